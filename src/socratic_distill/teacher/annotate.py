"""Teacher annotation: each (problem, sample) -> one checked `Annotation` line, resumably.

    socratic-distill annotate --dataset gsm8k:train --teacher openai:gpt-4o-mini \\
        --style socratic --samples 4 --out teacher.jsonl

`annotate(problems, config, out)` reads what `out` already holds, then asks the teacher for
every missing pair with `concurrency` requests in flight, parses and checks each completion
and appends its record at once. Paid completions go to the SQLite cache before their record
is written, so a kill -9 anywhere loses nothing that was paid for, and rerunning the same
command completes the file with every pair exactly once. Budget caps (`max_requests`,
`max_cost`) stop the run cleanly: in-flight requests finish and are written, and the summary
says what is left. A teacher that stops answering ends the run with a UserError, after the
records so far are flushed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from socratic_distill.errors import UserError
from socratic_distill.schemas import Annotation, Problem
from socratic_distill.teacher.backends import Completion, Request, Teacher, make_teacher
from socratic_distill.teacher.cache import CompletionCache, cache_key
from socratic_distill.teacher.config import AnnotateConfig
from socratic_distill.teacher.parse import parse_completion
from socratic_distill.teacher.progress import Progress
from socratic_distill.teacher.prompts import PromptSet
from socratic_distill.teacher.store import AnnotationStore
from socratic_distill.teacher.summary import Summary, summarize
from socratic_distill.teacher.verify import verify

log = logging.getLogger(__name__)

MAX_REJECTED_IN_A_ROW = 10  # requests the endpoint refused (4xx) before the run gives up


def annotate(
    problems: Sequence[Problem],
    config: AnnotateConfig,
    out: str | Path,
    *,
    progress: bool = True,
    stream: TextIO | None = None,
) -> Summary:
    """Annotate every (problem, sample) missing from `out`; return the summary of the file."""
    return asyncio.run(annotate_async(problems, config, Path(out), progress=progress,
                                      stream=stream))


def judge(problem: Problem, sample: int, completion: Completion, teacher: str,
          config: AnnotateConfig) -> Annotation:
    """Parse and check one completion into its output record."""
    base = {"id": problem.id, "sample": sample, "teacher": teacher, "style": config.style,
            "usage": completion.usage}
    if completion.text is None:
        return Annotation(**base, reject_reason=completion.error or "teacher error: no text")
    parsed = parse_completion(completion.text, config.style, problem.answer_type or "number",
                              problem.question)
    verdict = verify(parsed, problem, config.keep_incorrect)
    return Annotation(**base, completion=completion.text, steps=parsed.steps, cot=parsed.cot,
                      final_answer=parsed.final_answer, correct=verdict.correct,
                      reject_reason=verdict.reject_reason)


@dataclass
class RunStats:
    written: int = 0
    requests: int = 0  # paid requests sent (cache misses)
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    not_done: Counter[str] = field(default_factory=Counter)  # pairs left, by reason
    stopped: str | None = None
    rejected_in_a_row: int = 0


async def annotate_async(problems: Sequence[Problem], config: AnnotateConfig, out: Path, *,
                         progress: bool = True, stream: TextIO | None = None) -> Summary:
    ids = Counter(problem.id for problem in problems)
    repeated = [problem_id for problem_id, count in ids.items() if count > 1]
    if repeated:
        raise UserError(f"problem id {repeated[0]!r} appears {ids[repeated[0]]} times; ids must "
                        "be unique to resume by (id, sample)")
    teacher = make_teacher(config)
    prompts = PromptSet(config.style, config.prompt, config.show_gold)
    store = AnnotationStore(out)
    cache = None
    try:
        done = store.open(teacher.name, config.style)
        pending = [(p, s) for p in problems for s in range(config.samples) if (p.id, s) not in done]
        cache = CompletionCache(config.cache_path(out)) if teacher.paid and pending else None
        bar = Progress(len(pending), stream, enabled=progress)
        run = _Run(teacher, config, prompts, store, cache, bar)
        try:
            await run.go(pending)
        except UserError as error:
            raise UserError(f"{error}\n{run.stats.written} new records were written to {out} "
                            "(a valid file): rerun the same command to resume") from error
        finally:
            bar.close()
    finally:
        store.close()
        if cache is not None:
            cache.close()
        await teacher.aclose()
    return summarize(problems, config, store.records, run.stats, out, teacher.name,
                     resumed=len(done), seconds=bar.elapsed())


class _Run:
    def __init__(self, teacher: Teacher, config: AnnotateConfig, prompts: PromptSet,
                 store: AnnotationStore, cache: CompletionCache | None, bar: Progress):
        self.teacher, self.config, self.prompts = teacher, config, prompts
        self.store, self.cache, self.bar = store, cache, bar
        self.stats = RunStats()
        self.queue: deque[tuple[Problem, int]] = deque()

    async def go(self, pending: list[tuple[Problem, int]]) -> None:
        self.queue.extend(pending)
        workers = self.config.concurrency if self.teacher.batch_size == 1 else 1
        tasks = [asyncio.ensure_future(self._worker()) for _ in range(min(workers, len(pending)))]
        if not tasks:
            return
        finished, unfinished = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        failures = [task.exception() for task in finished if task.exception() is not None]
        if failures:
            raise failures[0]
        if self.queue:
            self.stats.not_done[self.stats.stopped or "stopped"] += len(self.queue)

    async def _worker(self) -> None:
        while self.queue and not self.stats.stopped:
            size = min(self.teacher.batch_size, len(self.queue))
            await self._do([self.queue.popleft() for _ in range(size)])

    def _allowance(self, wanted: int) -> int:
        """How many of `wanted` paid requests the budget still allows; sets `stopped` at 0."""
        config, stats = self.config, self.stats
        allowed = wanted
        if config.max_requests is not None:
            allowed = min(allowed, config.max_requests - stats.requests)
            if allowed <= 0:
                stats.stopped = f"budget: max_requests ({config.max_requests}) reached"
        if config.max_cost is not None and stats.cost >= config.max_cost:
            allowed = 0
            stats.stopped = f"budget: max_cost (${config.max_cost:g}) reached"
        return max(0, allowed)

    async def _do(self, batch: list[tuple[Problem, int]]) -> None:
        requests = [Request(problem, sample, self.prompts.render(problem))
                    for problem, sample in batch]
        results: list[Completion | None] = [None] * len(requests)
        keys = [cache_key(self.teacher.identity,
                          {"messages": r.prompt.messages, "stop": r.prompt.stop}, r.sample)
                for r in requests] if self.cache is not None else []
        misses = list(range(len(requests)))
        if self.cache is not None:
            misses = []
            for index, key in enumerate(keys):
                hit = self.cache.get(key)
                if hit is None:
                    misses.append(index)
                else:
                    results[index] = Completion(hit[0], hit[1], cached=True)
                    self.stats.cache_hits += 1
        if misses and self.teacher.paid:
            allowed = self._allowance(len(misses))
            for index in misses[allowed:]:  # over budget: left for a later run
                self.queue.appendleft(batch[index])
            misses = misses[:allowed]
            self.stats.requests += len(misses)
        if misses:
            completions = await self.teacher.complete([requests[i] for i in misses])
            for index, completion in zip(misses, completions, strict=True):
                results[index] = completion
                self._account(completion, keys[index] if self.cache is not None else None)
        for (problem, sample), completion in zip(batch, results, strict=True):
            if completion is not None:
                self._record(problem, sample, completion)

    def _account(self, completion: Completion, key: str | None) -> None:
        stats, usage = self.stats, completion.usage or {}
        if completion.text is not None and key is not None:
            self.cache.put(key, self.teacher.name, completion.text, completion.usage)
        stats.prompt_tokens += usage.get("prompt_tokens", 0)
        stats.completion_tokens += usage.get("completion_tokens", 0)
        if self.config.prices is not None:
            stats.cost += self.config.prices.cost(usage)
        if completion.pending and completion.error and completion.error.startswith("request"):
            stats.rejected_in_a_row += 1
            if stats.rejected_in_a_row >= MAX_REJECTED_IN_A_ROW:
                raise UserError(f"the teacher endpoint refused {MAX_REJECTED_IN_A_ROW} requests "
                                f"in a row; last: {completion.error}")
        elif completion.text is not None:
            stats.rejected_in_a_row = 0

    def _record(self, problem: Problem, sample: int, completion: Completion) -> None:
        if completion.pending:
            self.stats.not_done[completion.error or "not available"] += 1
            return
        record = judge(problem, sample, completion, self.teacher.name, self.config)
        self.store.append(record)
        self.stats.written += 1
        usage = {} if completion.cached else completion.usage or {}
        self.bar.update(record.reject_reason is None,
                        usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0))
