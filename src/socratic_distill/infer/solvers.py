"""The four solving methods over a batch of problems: answer, cot, unified and socratic.

`answer`, `cot` and `unified` prompt one student with the problem's header (see
`socratic_distill.formats`). `socratic` runs the decomposer (QG) and the solver (QA) in turns:
each turn, every unfinished problem's next subquestion is generated in one batched call, then
every answer in another; a problem leaves when its decomposer emits the end marker or it reaches
`max_steps`. With `guidance="gold"` the problem's gold subquestions replace the decomposer (the
upper-bound ablation). The final answer is the last step's answer.

Self-consistency is a setting: with `samples=N` every problem is replicated N times in the batch
with sampling, and the majority of the N final answers is the answer (all N are kept).
A problem whose generation raises gets `error` set; it is never dropped.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from socratic_distill.errors import UserError
from socratic_distill.eval.answers import extract_answer, majority_vote
from socratic_distill.formats import (
    ANSWER_MARK,
    END_MARKER,
    LINE_END,
    SUBQUESTION,
    answer_prompt,
    cot_prompt,
    header,
    parse_solution,
    parse_subquestion,
    parse_unified,
    qa_prompt,
    qg_prompt,
    socratic_layout,
    step_answer,
    unified_prompt,
)
from socratic_distill.infer.config import SolveConfig
from socratic_distill.infer.generate import GenerateFn, Generation, PrefixCache
from socratic_distill.methods import ROLES
from socratic_distill.schemas import Prediction, Problem, Step

log = logging.getLogger(__name__)

# A student that goes on past its answer starts a new problem with a header line; stop there.
NEXT_PROBLEM = ("\nQuestion:", "\nFacts:")


@dataclass
class _Job:
    """One solution attempt: a problem, or one of its samples."""

    problem: Problem
    replica: int
    text: str = ""
    steps: list[Step] = field(default_factory=list)
    answer: str | None = None
    ended: bool = False  # the decomposer said it is done
    done: bool = False
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    @property
    def answer_type(self):
        return self.problem.answer_type or "number"


class _Caller:
    """Calls a backend for some jobs, charges them usage, isolates failures to their jobs."""

    def __init__(self, config: SolveConfig):
        self.config = config

    def __call__(
        self, fn: GenerateFn, jobs: list[_Job], prompts: list[str], turn: int,
        prefix_cache: PrefixCache | None = None, **settings,
    ) -> list[Generation | None]:
        seeds = [
            zlib.crc32(f"{self.config.seed}/{job.problem.id}/{job.replica}/{turn}".encode())
            for job in jobs
        ]
        kwargs = dict(
            max_new_tokens=self.config.budget, temperature=self.config.temperature,
            top_p=self.config.top_p, batch_size=self.config.batch_size, **settings,
        )
        if prefix_cache is not None:
            kwargs["prefix_cache"] = prefix_cache
        keys = [(job.problem.id, job.replica) for job in jobs]
        start = time.perf_counter()
        try:
            results: list[Generation | None] = list(
                fn(prompts, seed=seeds, prefix_keys=keys, **kwargs))
        except Exception:  # noqa: BLE001 - find the culprits one by one, below
            log.warning("a batch of %d failed; retrying its prompts one by one", len(prompts),
                        exc_info=True)
            results = []
            for job, prompt, seed, key in zip(jobs, prompts, seeds, keys, strict=True):
                try:
                    results.extend(fn([prompt], seed=[seed], prefix_keys=[key], **kwargs))
                except Exception as error:  # noqa: BLE001 - reported on the problem itself
                    job.error, job.done = f"{type(error).__name__}: {error}", True
                    results.append(None)
        share = (time.perf_counter() - start) / max(len(jobs), 1)
        for index, (job, result) in enumerate(zip(jobs, results, strict=True)):
            job.seconds += share
            if result is not None:
                job.prompt_tokens += result.prompt_tokens
                job.completion_tokens += result.completion_tokens
                if result.error is not None:
                    job.error, job.done, results[index] = result.error, True, None
        return results


def _through_answer_line(text: str) -> str:
    """`text` up to and including its first `#### n` line (what follows is not the answer)."""
    lines = text.split(LINE_END)
    for number, line in enumerate(lines):
        if line.strip().startswith(ANSWER_MARK):
            return LINE_END.join(lines[: number + 1])
    return text


def _single_model(jobs: list[_Job], fn: GenerateFn, config: SolveConfig, call: _Caller) -> None:
    method = config.method
    prompt_of = {"answer": answer_prompt, "cot": cot_prompt, "unified": unified_prompt}[method]
    stops = NEXT_PROBLEM + ((END_MARKER,) if method == "unified" else ())
    prompts = [prompt_of(job.problem.question, job.problem.context) for job in jobs]
    results = call(
        fn, jobs, prompts, 0, stop_at_newline=method == "answer", stop_strings=stops,
        calculator=config.calculator and method != "answer",
    )
    for job, result in zip(jobs, results, strict=True):
        if result is None:
            continue
        if method == "unified":
            # Stopped at the end marker: put it back, the layout's last line is `Q: [END]`.
            closed = (LINE_END + result.text).rstrip().endswith(LINE_END + SUBQUESTION)
            job.text = result.text + (END_MARKER if closed else "")
            job.steps = parse_unified(job.text, job.answer_type)
            job.answer = step_answer(job.steps[-1], job.answer_type) if job.steps else None
        else:
            job.text = _through_answer_line(result.text)
        if job.answer is None:
            job.answer = extract_answer(job.text, job.answer_type)


def _ask(jobs: list[_Job], turn: int, fn: GenerateFn | None, config: SolveConfig,
         call: _Caller, cache: PrefixCache | None) -> list[str | None]:
    """Each job's next subquestion (None: it is done), from the decomposer or the gold steps."""
    if config.guidance == "gold":
        golds = [job.problem.gold_steps or [] for job in jobs]
        return [gold[turn].subquestion if turn < len(gold) else None for gold in golds]
    prompts = [
        qg_prompt(job.problem.question, job.steps, job.problem.context,
                  include_solutions=config.qg_include_solutions)
        for job in jobs
    ]
    results = call(fn, jobs, prompts, 2 * turn, cache, stop_at_newline=True, calculator=False)
    return [parse_subquestion(result.text) if result else None for result in results]


def _answer(jobs: list[_Job], turn: int, fn: GenerateFn, config: SolveConfig, call: _Caller,
            cache: PrefixCache | None) -> None:
    """The solver answers each job's last subquestion: the step's solution and answer."""
    prompts = [
        qa_prompt(job.problem.question, job.steps[:-1], job.steps[-1].subquestion,
                  job.problem.context)
        for job in jobs
    ]
    results = call(fn, jobs, prompts, 2 * turn + 1, cache, stop_at_newline=True,
                   calculator=config.calculator)
    for job, result in zip(jobs, results, strict=True):
        if result is not None:
            solved = parse_solution(result.text, job.answer_type)
            job.steps[-1] = Step(subquestion=job.steps[-1].subquestion,
                                 solution=solved.solution, answer=solved.answer)


def _socratic(jobs: list[_Job], qg: GenerateFn | None, qa: GenerateFn, config: SolveConfig,
              call: _Caller) -> None:
    turns = config.max_steps
    if config.guidance == "gold":  # every gold subquestion is asked, however many
        for job in jobs:
            if not job.problem.gold_steps:
                job.error = "no gold subquestions (`gold_steps`) for guidance `gold`"
                job.done = True
        turns = max(len(job.problem.gold_steps or []) for job in jobs)
    # One prefix cache per student: each turn reads the previous turn's sequence plus a line.
    qg_cache, qa_cache = (PrefixCache(), PrefixCache()) if config.prefix_cache else (None, None)
    for turn in range(turns):
        active = [job for job in jobs if not job.done]
        asked = _ask(active, turn, qg, config, call, qg_cache) if active else []
        for job, subquestion in zip(active, asked, strict=True):
            if subquestion is None:
                job.done, job.ended = True, job.error is None
            else:
                job.steps.append(Step(subquestion=subquestion, solution=""))
        active = [job for job in active if not job.done]
        if not active:
            break
        _answer(active, turn, qa, config, call, qa_cache)
        for cache in (qg_cache, qa_cache):
            if cache is not None:
                cache.drop([(job.problem.id, job.replica) for job in jobs if job.done])
    for job in jobs:
        if config.guidance == "gold" and job.error is None:
            job.ended = True
        if job.steps:
            job.answer = step_answer(job.steps[-1], job.answer_type)
        layout = socratic_layout(job.problem.question, job.steps, context=job.problem.context,
                                 finished=job.ended, answer_type=job.answer_type)
        job.text = layout.text[len(header(job.problem.question, job.problem.context)):]


def _prediction(replicas: list[_Job]) -> Prediction:
    """One problem's prediction from its replicas: the majority answer, its first solution."""
    first = replicas[0]
    usage = dict(
        prompt_tokens=sum(job.prompt_tokens for job in replicas),
        completion_tokens=sum(job.completion_tokens for job in replicas),
        seconds=round(sum(job.seconds for job in replicas), 4),
    )
    ok = [job for job in replicas if job.error is None]
    if not ok:
        return Prediction(id=first.problem.id, error=first.error, **usage)
    answer = majority_vote([job.answer for job in ok]) if len(replicas) > 1 else ok[0].answer
    chosen = next((job for job in ok if job.answer == answer), ok[0])
    extra = {}
    if len(replicas) > 1:
        extra["samples"] = [job.answer for job in replicas]
        failed = [job.error for job in replicas if job.error]
        if failed:
            extra["sample_errors"] = failed
    return Prediction(
        id=first.problem.id, prediction=chosen.text, answer=answer,
        steps=chosen.steps or None, **usage, **extra,
    )


def solve(
    problems: Sequence[Problem], generators: Mapping[str, GenerateFn], config: SolveConfig
) -> list[Prediction]:
    """Solve `problems` together; one `Prediction` per problem, in their order.

    `generators` maps each role of `ROLES[config.method]` (`model`, or `qg` and `qa`) to a
    backend bound to its student; gold guidance needs no `qg`.
    """
    needed = set(ROLES[config.method]) - ({"qg"} if config.guidance == "gold" else set())
    missing = sorted(needed - set(generators))
    if missing:
        raise UserError(f"method `{config.method}` needs students for: {', '.join(missing)}")
    jobs = [_Job(problem, replica) for problem in problems for replica in range(config.samples)]
    call = _Caller(config)
    if jobs and config.method == "socratic":
        _socratic(jobs, generators.get("qg"), generators["qa"], config, call)
    elif jobs:
        _single_model(jobs, generators["model"], config, call)
    n = config.samples
    return [_prediction(jobs[i * n:(i + 1) * n]) for i in range(len(problems))]
