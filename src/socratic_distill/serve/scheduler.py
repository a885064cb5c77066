"""Continuous batching: one worker thread owns the students and advances every request in turns.

A request becomes a `Job` and waits in a bounded queue (`submit` raises `QueueFull` when the
queue is full: the server answers 503 with Retry-After). The worker repeats a turn:

1. admit queued jobs while the batch has room (`max_batch_rows` rows, a row being one sample
   or one completion); with batching off, one job at a time. When jobs have just left, first
   wait up to `admit_wait` seconds for new requests to take their places;
2. drop the jobs that were cancelled (their client left) or ran past their deadline;
3. complete the OpenAI-style jobs, one generate call per student and settings;
4. solve the single-model jobs (answer, cot, unified) with `solve`, one call per settings;
5. advance every socratic job by one step: every pending subquestion of every job in ONE
   batched decomposer call, then every pending answer in ONE batched solver call (one call per
   distinct decoding settings, which requests share unless they sample).

A job leaves as soon as it finishes; new jobs join at the next turn. The socratic turn is the
one of `socratic_distill.infer.solvers` (same prompts, seeds, parsing and final answer), so a
request's answer does not depend on what else is in the batch. Events go to each job's
`listener` from the worker thread: `subquestion` and `solution` per step, `text` for a
single-model solution, then `final` or `error` (with an HTTP status).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from socratic_distill.infer.config import SolveConfig
from socratic_distill.infer.engine import Dialogue, choose, generate_isolated
from socratic_distill.infer.generate import GenerateFn, Generation, PrefixCache
from socratic_distill.infer.solvers import score_samples, solve
from socratic_distill.infer.verifier import Scorer
from socratic_distill.schemas import Problem, Step
from socratic_distill.serve.config import ServeConfig
from socratic_distill.serve.metrics import Metrics

log = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]


class QueueFull(Exception):
    """The waiting queue is full: retry after `retry_after` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"the server is busy (queue full): retry in {retry_after}s")
        self.retry_after = retry_after


class ShuttingDown(Exception):
    """The scheduler is stopping and takes no new job."""


@dataclass(frozen=True)
class SolveSpec:
    """A problem to solve with `config` (method, samples, decoding settings)."""

    question: str
    context: str | None
    answer_type: str
    config: SolveConfig

    @property
    def key(self) -> str:
        """Stands for the problem id in sampling seeds: the same request samples alike."""
        text = f"{self.context or ''}\n{self.question}".encode()
        return "q" + hashlib.sha1(text).hexdigest()[:12]

    def problem(self) -> Problem:
        return Problem(id=self.key, question=self.question, answer="", context=self.context,
                       answer_type=self.answer_type)


@dataclass(frozen=True)
class CompleteSpec:
    """Raw completions from one student (the OpenAI-style endpoints): `n` per prompt."""

    role: str
    prompts: tuple[str, ...]
    n: int
    max_tokens: int
    temperature: float
    top_p: float
    stop: tuple[str, ...]
    seed: int


@dataclass(eq=False)
class Job:
    spec: SolveSpec | CompleteSpec
    listener: Listener
    timeout: float
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    created: float = field(default_factory=time.monotonic)
    attempts: list[Dialogue] = field(default_factory=list)  # socratic: one per sample
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cancelled: bool = False
    finished: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.spec, SolveSpec) and not self.attempts:
            problem = self.spec.problem()
            self.attempts = [Dialogue(problem, r) for r in range(self.spec.config.samples)]

    @property
    def rows(self) -> int:
        if isinstance(self.spec, CompleteSpec):
            return len(self.spec.prompts) * self.spec.n
        return self.spec.config.samples

    @property
    def deadline(self) -> float:
        return self.created + self.timeout

    @property
    def kind(self) -> str:
        if isinstance(self.spec, CompleteSpec):
            return "complete"
        return "socratic" if self.spec.config.method == "socratic" else "single"

    @property
    def solving(self) -> SolveSpec:
        """The problem a solve job holds (the method's jobs are dispatched by `kind`)."""
        if not isinstance(self.spec, SolveSpec):
            raise TypeError(f"job {self.id} is a completion, not a solve")
        return self.spec

    @property
    def completing(self) -> CompleteSpec:
        if not isinstance(self.spec, CompleteSpec):
            raise TypeError(f"job {self.id} is a solve, not a completion")
        return self.spec

    def charge(self, result: Generation) -> None:
        self.prompt_tokens += result.prompt_tokens
        self.completion_tokens += result.completion_tokens


def error_status(error: BaseException | None) -> int:
    """A generation failure as an HTTP status: bad input (e.g. too long a prompt) is 422."""
    return 422 if isinstance(error, ValueError) else 500


def _usage(job: Job) -> dict[str, int]:
    return {"prompt": job.prompt_tokens, "completion": job.completion_tokens,
            "total": job.prompt_tokens + job.completion_tokens}


class Scheduler:
    """The queue, the batch and the worker thread that runs turns over it."""

    def __init__(self, generators: Mapping[str, GenerateFn], config: ServeConfig,
                 metrics: Metrics | None = None, scorer: Scorer | None = None):
        self.generators, self.config = dict(generators), config
        self.scorer = scorer  # a verifier: ranks the samples of requests that vote by score
        self.metrics = metrics or Metrics()
        self._cond = threading.Condition()
        self._queue: deque[Job] = deque()
        self._active: list[Job] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.turns = 0
        self._freed = 0  # rows of the jobs that left since the last admission
        self._last_turn = float("inf")  # seconds
        self.decode_batch_size = config.decode_batch_size or config.max_batch_rows
        # One prefix cache per student: a dialogue's turn computes only its new tokens.
        self.caches = {role: PrefixCache() for role in ("qg", "qa")} if config.prefix_cache \
            else {}

    # ---- the request side (any thread) ----

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="serve-scheduler", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def submit(self, job: Job) -> None:
        """Queue `job`; raises QueueFull when the queue is full, ShuttingDown when stopping."""
        with self._cond:
            if self._stopping:
                raise ShuttingDown("the server is shutting down")
            if len(self._queue) >= self.config.queue_size:
                self.metrics.observe_job("rejected", 0, 0)
                raise QueueFull(self.config.retry_after)
            self._queue.append(job)
            self._cond.notify_all()

    def cancel(self, job: Job) -> None:
        """Forget `job`: at once if it waits, at the next turn if it is in the batch."""
        with self._cond:
            job.cancelled = True
            if job in self._queue:
                self._queue.remove(job)
                self._finish_cancelled(job)

    def load(self) -> tuple[int, int]:
        """(jobs in the batch, jobs waiting)."""
        with self._cond:
            return len(self._active), len(self._queue)

    # ---- the worker ----

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self._queue and not self._active:
                    self._cond.wait(1.0)
                if self._stopping:
                    break
                self._await_arrivals()
                self._admit()
            started = time.monotonic()
            try:
                self._turn()
            except Exception as error:  # noqa: BLE001 - a bug must not kill the worker
                log.exception("scheduler turn failed")
                for job in list(self._active):
                    self._fail(job, 500, f"internal error: {type(error).__name__}: {error}")
            self._last_turn = time.monotonic() - started
        with self._cond:
            for job in [*self._active, *self._queue]:
                self._fail(job, 503, "the server is shutting down")
            self._queue.clear()

    def _await_arrivals(self) -> None:
        """Wait, at most `admit_wait` seconds, until the queue holds rows for the places freed
        since the last turn (an empty batch: for all of it). Clients on loopback send their next
        request within milliseconds of an answer; without the wait it misses a whole turn, and
        batches shrink in waves. The wait is also at most a tenth of the last turn, so that fast
        turns (a GPU) lose little to clients who do not come back. Called holding the lock."""
        if not self.config.batching or self.config.admit_wait <= 0:
            return
        room = self.config.max_batch_rows - sum(job.rows for job in self._active)
        wanted = min(room, self._freed) if self._active else room
        deadline = time.monotonic() + min(self.config.admit_wait, self._last_turn / 10)
        while sum(job.rows for job in self._queue) < wanted and not self._stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._cond.wait(left)
        self._freed = 0

    def _admit(self) -> None:
        rows = sum(job.rows for job in self._active)
        now = time.monotonic()
        while self._queue:
            job = self._queue[0]
            if job.deadline < now:
                self._queue.popleft()
                self._fail(job, 504, self._timeout_message(job))
                continue
            if self._active and (not self.config.batching
                                 or rows + job.rows > self.config.max_batch_rows):
                break
            self._active.append(self._queue.popleft())
            rows += job.rows

    def _timeout_message(self, job: Job) -> str:
        return (f"timed out after {job.timeout:g}s (the server is busy or the problem needs "
                "many steps): retry later, or ask for fewer `max_steps`")

    def _turn(self) -> None:
        self.turns += 1
        now = time.monotonic()
        for job in list(self._active):
            if job.cancelled:
                self._finish_cancelled(job)
            elif job.deadline < now:
                self._fail(job, 504, self._timeout_message(job))
        kinds: dict[str, list[Job]] = {"complete": [], "single": [], "socratic": []}
        for job in self._active:
            kinds[job.kind].append(job)
        if kinds["complete"]:
            self._complete(kinds["complete"])
        if kinds["single"]:
            self._single(kinds["single"])
        if kinds["socratic"]:
            self._socratic_turn(kinds["socratic"])

    # ---- generation, isolated per job ----

    def _generate(
        self, role: str, rows: Sequence[tuple[Job, str, int]], settings_of: Callable[[Job], dict],
        keys: Sequence[tuple[str, int]] | None = None,
    ) -> list[Generation | BaseException]:
        """One generate call per distinct settings over `rows` of (job, prompt, seed); each
        row's result, or the exception that its own prompt raised (a prompt that does not fit
        the context window: ValueError). With `keys`, the role's prefix cache is used."""
        groups: dict[tuple, list[int]] = {}
        for index, (job, _, _) in enumerate(rows):
            groups.setdefault(tuple(sorted(settings_of(job).items())), []).append(index)
        results: list[Generation | BaseException] = [RuntimeError("not generated")] * len(rows)
        cache = self.caches.get(role) if keys is not None else None
        for key, indices in groups.items():
            settings = dict(key, batch_size=self.decode_batch_size)
            if cache is not None:
                settings["prefix_cache"] = cache
            row_keys = [keys[i] for i in indices] if keys is not None and cache is not None else None
            generated = generate_isolated(
                self.generators[role], [rows[i][1] for i in indices], [rows[i][2] for i in indices],
                row_keys, on_call=self.metrics.observe_call, **settings)
            for i, result in zip(indices, generated, strict=True):
                results[i] = result
        for index, ((job, _, _), result) in enumerate(zip(rows, results, strict=True)):
            if isinstance(result, Generation):
                job.charge(result)
                if result.error is not None:
                    results[index] = ValueError(result.error)
        return results

    # ---- OpenAI-style completions ----

    def _complete(self, jobs: list[Job]) -> None:
        by_role: dict[str, list[tuple[Job, str, int]]] = {}
        for job in jobs:
            spec = job.completing
            rows = by_role.setdefault(spec.role, [])
            for prompt in spec.prompts:
                rows.extend((job, prompt, spec.seed + k) for k in range(spec.n))

        def settings(job: Job) -> dict:
            spec = job.completing
            return dict(max_new_tokens=spec.max_tokens, temperature=spec.temperature,
                        top_p=spec.top_p, stop_strings=spec.stop)

        for role, rows in by_role.items():
            results = self._generate(role, rows, settings)
            for job in jobs:
                if job.completing.role != role:
                    continue
                mine = [r for (owner, _, _), r in zip(rows, results, strict=True) if owner is job]
                failure = next((r for r in mine if isinstance(r, BaseException)), None)
                if failure is not None:
                    self._fail(job, error_status(failure), f"{type(failure).__name__}: {failure}")
                    continue
                choices = [{"text": r.text, "finish_reason": r.finish_reason} for r in mine]
                self._finish(job, {"choices": choices, "usage": _usage(job)})

    # ---- answer, cot, unified: `solve` does it all in one call ----

    def _single(self, jobs: list[Job]) -> None:
        groups: dict[str, list[Job]] = {}
        for job in jobs:
            groups.setdefault(job.solving.config.model_dump_json(), []).append(job)
        for group in groups.values():
            config = group[0].solving.config
            problems = [job.solving.problem() for job in group]
            self.metrics.observe_call(len(group) * config.samples)
            try:
                predictions = solve(problems, {"model": self.generators["model"]}, config,
                                    scorer=self._scorer_for(config))
            except Exception as error:  # noqa: BLE001 - solve isolates its own failures
                for job in group:
                    self._fail(job, error_status(error), f"{type(error).__name__}: {error}")
                continue
            for job, prediction in zip(group, predictions, strict=True):
                job.prompt_tokens += prediction.prompt_tokens or 0
                job.completion_tokens += prediction.completion_tokens or 0
                if prediction.error:
                    status = 422 if prediction.error.startswith("ValueError") else 500
                    self._fail(job, status, prediction.error)
                    continue
                steps = prediction.steps or []
                for number, step in enumerate(steps, start=1):
                    self._emit_step(job, 0, number, step)
                if not steps:
                    self._emit(job, "text", {"sample": 0, "text": prediction.prediction or ""})
                self._finish(job, self._final(job, prediction.answer, steps,
                                              prediction.prediction or "", prediction.samples,
                                              prediction.scores, prediction.score))

    # ---- socratic: one step per turn ----

    def _socratic_turn(self, jobs: list[Job]) -> None:
        include = self.config.qg_include_solutions
        pending = [(job, d) for job in jobs for d in job.attempts if not d.done]
        rows = [(job, d.ask_prompt(include), d.seed(job.solving.config.seed, 2 * len(d.steps)))
                for job, d in pending]
        results = self._generate("qg", rows, lambda job: self._line_settings(job, False),
                                 [(job.id, d.replica) for job, d in pending])
        for (job, dialogue), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                dialogue.fail(result)
                continue
            subquestion = dialogue.take_subquestion(result.text)
            if subquestion is not None:
                self._emit(job, "subquestion", {"sample": dialogue.replica,
                                                "step": len(dialogue.steps),
                                                "subquestion": subquestion})
        # Answer now the jobs that the decomposer ended: their clients' next requests then
        # arrive while the solver runs, in time for the next turn.
        self._close_finished(jobs)
        asking = [(job, d) for job, d in pending if not d.done]
        rows = [(job, d.solve_prompt(), d.seed(job.solving.config.seed, 2 * len(d.steps) - 1))
                for job, d in asking]
        results = self._generate("qa", rows, lambda job: self._line_settings(job, True),
                                 [(job.id, d.replica) for job, d in asking])
        for (job, dialogue), result in zip(asking, results, strict=True):
            if isinstance(result, BaseException):
                dialogue.fail(result)
                continue
            step = dialogue.take_solution(result.text, job.solving.config.max_steps)
            self._emit_step(job, dialogue.replica, len(dialogue.steps), step, subquestion=False)
        self._forget([(job.id, d.replica) for job, d in pending if d.done])
        self._close_finished(jobs)

    def _close_finished(self, jobs: list[Job]) -> None:
        for job in jobs:
            if not job.finished and all(a.done for a in job.attempts):
                self._close_socratic(job)

    def _line_settings(self, job: Job, solver: bool) -> dict:
        config = job.solving.config
        return dict(max_new_tokens=config.budget, temperature=config.temperature,
                    top_p=config.top_p, stop_at_newline=True,
                    calculator=config.calculator and solver)

    def _close_socratic(self, job: Job) -> None:
        """The final answer, as `solve` gives it: the majority answer and its first solution."""
        for dialogue in job.attempts:
            dialogue.close()
        scorer = self._scorer_for(job.solving.config)
        scores = None
        if scorer is not None:
            scored = score_samples(job.attempts, scorer)
            scores = [scored.get(i) for i in range(len(job.attempts))]
        choice = choose(job.attempts, scores, job.solving.config.vote)
        if choice.chosen is None:
            first = job.attempts[0]
            self._fail(job, error_status(first.failure), first.error or "failed")
            return
        self._finish(job, self._final(job, choice.answer, choice.chosen.steps, choice.chosen.text,
                                      choice.samples, scores, choice.score))

    def _scorer_for(self, config: SolveConfig) -> Scorer | None:
        return self.scorer if config.vote != "majority" else None

    # ---- events and endings ----

    def _final(self, job: Job, answer: str | None, steps: list[Step], text: str,
               samples: list | None, scores: list | None = None,
               score: float | None = None) -> dict[str, Any]:
        spec = job.solving
        final = {"id": job.id, "method": spec.config.method, "answer": answer,
                 "steps": [step.model_dump() for step in steps], "text": text,
                 "tokens": _usage(job), "seconds": round(time.monotonic() - job.created, 4)}
        if samples is not None:
            final["samples"] = samples
        if scores is not None:  # with a verifier: each sample's score, and the chosen one's
            final["scores"], final["score"] = scores, score
        return final

    def _emit_step(self, job: Job, sample: int, number: int, step: Step,
                   subquestion: bool = True) -> None:
        if subquestion:
            self._emit(job, "subquestion", {"sample": sample, "step": number,
                                            "subquestion": step.subquestion})
        self._emit(job, "solution", {"sample": sample, "step": number,
                                     "subquestion": step.subquestion, "solution": step.solution,
                                     "answer": step.answer})

    def _emit(self, job: Job, kind: str, data: dict[str, Any]) -> None:
        try:
            job.listener(kind, data)
        except Exception:  # noqa: BLE001 - a listener whose client left must not stop the batch
            log.debug("listener of job %s failed", job.id, exc_info=True)

    def _forget(self, keys: list[tuple[str, int]]) -> None:
        for cache in self.caches.values():
            cache.drop(keys)

    def _leave(self, job: Job, outcome: str) -> bool:
        """Take `job` out of the batch once; False if it had already left."""
        if job.finished:
            return False
        job.finished = True
        if job in self._active:
            self._active.remove(job)
            self._freed += job.rows
            self._forget([(job.id, attempt.replica) for attempt in job.attempts])
        self.metrics.observe_job(outcome, job.prompt_tokens, job.completion_tokens)
        return True

    def _finish(self, job: Job, final: dict[str, Any]) -> None:
        if self._leave(job, "done"):
            self._emit(job, "final", final)

    def _fail(self, job: Job, status: int, message: str) -> None:
        outcome = {504: "timeout", 503: "shutdown"}.get(status, "error")
        if self._leave(job, outcome):
            self._emit(job, "error", {"status": status, "message": message})

    def _finish_cancelled(self, job: Job) -> None:
        self._leave(job, "cancelled")
