"""The four solving methods over a batch of problems: answer, cot, unified and socratic.

`answer`, `cot` and `unified` prompt one student with the problem's header (see
`socratic_distill.formats`). `socratic` runs the decomposer (QG) and the solver (QA) in turns:
each turn, every unfinished problem's next subquestion is generated in one batched call, then
every answer in another; a problem leaves when its decomposer emits the end marker or it reaches
`max_steps`. With `guidance="gold"` the problem's gold subquestions replace the decomposer (the
upper-bound ablation). The final answer is the last step's answer.

Self-consistency is a setting: with `samples=N` every problem is replicated N times in the batch
with sampling, and the majority of the N final answers is the answer (all N are kept). With a
verifier (`scorer`), every sample is scored and `vote` may pick the best-scored sample
(best-of-N) or weight each answer's votes by their scores.
A problem whose generation raises gets `error` set; it is never dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from socratic_distill.errors import UserError
from socratic_distill.eval.answers import extract_answer
from socratic_distill.formats import (
    ANSWER_MARK,
    END_MARKER,
    LINE_END,
    SUBQUESTION,
    answer_prompt,
    cot_prompt,
    parse_unified,
    step_answer,
    unified_prompt,
    verifier_prompt,
)
from socratic_distill.infer.config import SolveConfig
from socratic_distill.infer.engine import Dialogue, choose, generate_isolated
from socratic_distill.infer.generate import GenerateFn, Generation, PrefixCache
from socratic_distill.infer.verifier import Scorer
from socratic_distill.methods import ROLES
from socratic_distill.schemas import Prediction, Problem

log = logging.getLogger(__name__)

# A student that goes on past its answer starts a new problem with a header line; stop there.
NEXT_PROBLEM = ("\nQuestion:", "\nFacts:")


class _Caller:
    """Calls a backend for some jobs, charges them usage, isolates failures to their jobs."""

    def __init__(self, config: SolveConfig):
        self.config = config

    def __call__(
        self, fn: GenerateFn, jobs: list[Dialogue], prompts: list[str], turn: int,
        prefix_cache: PrefixCache | None = None, **settings,
    ) -> list[Generation | None]:
        seeds = [job.seed(self.config.seed, turn) for job in jobs]
        kwargs = dict(
            max_new_tokens=self.config.budget, temperature=self.config.temperature,
            top_p=self.config.top_p, batch_size=self.config.batch_size, **settings,
        )
        if prefix_cache is not None:
            kwargs["prefix_cache"] = prefix_cache
        keys = [job.key for job in jobs]
        start = time.perf_counter()
        generated = generate_isolated(fn, prompts, seeds, keys, **kwargs)
        results: list[Generation | None] = []
        for job, result in zip(jobs, generated, strict=True):
            if isinstance(result, BaseException):
                job.fail(result)
                result = None
            results.append(result)
        share = (time.perf_counter() - start) / max(len(jobs), 1)
        for index, (job, result) in enumerate(zip(jobs, results, strict=True)):
            job.seconds += share
            if result is not None:
                job.prompt_tokens += result.prompt_tokens
                job.completion_tokens += result.completion_tokens
                if result.error is not None:
                    job.fail(result.error)
                    results[index] = None
        return results


def _through_answer_line(text: str) -> str:
    """`text` up to and including its first `#### n` line (what follows is not the answer)."""
    lines = text.split(LINE_END)
    for number, line in enumerate(lines):
        if line.strip().startswith(ANSWER_MARK):
            return LINE_END.join(lines[: number + 1])
    return text


def _single_model(jobs: list[Dialogue], fn: GenerateFn, config: SolveConfig, call: _Caller) -> None:
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


def _ask(jobs: list[Dialogue], turn: int, fn: GenerateFn | None, config: SolveConfig,
         call: _Caller, cache: PrefixCache | None) -> None:
    """Each job's next subquestion (or its end), from the decomposer or the gold steps."""
    if config.guidance == "gold":
        for job in jobs:
            gold = job.problem.gold_steps or []
            job.add_subquestion(gold[turn].subquestion if turn < len(gold) else None)
        return
    prompts = [job.ask_prompt(config.qg_include_solutions) for job in jobs]
    results = call(fn, jobs, prompts, 2 * turn, cache, stop_at_newline=True, calculator=False)
    for job, result in zip(jobs, results, strict=True):
        if result is None:  # failed: the error is on the job
            job.add_subquestion(None)
        else:
            job.take_subquestion(result.text)


def _answer(jobs: list[Dialogue], turn: int, fn: GenerateFn, config: SolveConfig, call: _Caller,
            cache: PrefixCache | None) -> None:
    """The solver answers each job's last subquestion: the step's solution and answer."""
    prompts = [job.solve_prompt() for job in jobs]
    results = call(fn, jobs, prompts, 2 * turn + 1, cache, stop_at_newline=True,
                   calculator=config.calculator)
    for job, result in zip(jobs, results, strict=True):
        if result is not None:
            job.take_solution(result.text)


def _socratic(jobs: list[Dialogue], qg: GenerateFn | None, qa: GenerateFn, config: SolveConfig,
              call: _Caller) -> None:
    turns = config.max_steps
    if config.guidance == "gold":  # every gold subquestion is asked, however many
        for job in jobs:
            if not job.problem.gold_steps:
                job.fail("no gold subquestions (`gold_steps`) for guidance `gold`")
        turns = max(len(job.problem.gold_steps or []) for job in jobs)
    # One prefix cache per student: each turn reads the previous turn's sequence plus a line.
    qg_cache, qa_cache = (PrefixCache(), PrefixCache()) if config.prefix_cache else (None, None)
    for turn in range(turns):
        active = [job for job in jobs if not job.done]
        if active:
            _ask(active, turn, qg, config, call, qg_cache)
        active = [job for job in active if not job.done]
        if not active:
            break
        _answer(active, turn, qa, config, call, qa_cache)
        for cache in (qg_cache, qa_cache):
            if cache is not None:
                cache.drop([job.key for job in jobs if job.done])
    for job in jobs:
        if config.guidance == "gold" and job.error is None:
            job.ended = True
        job.close()


def score_samples(jobs: list[Dialogue], scorer: Scorer) -> dict[int, float]:
    """Each finished sample's verifier score (by its index in `jobs`), its time shared out."""
    scored = [(i, job) for i, job in enumerate(jobs) if job.error is None]
    start = time.perf_counter()
    values = scorer([verifier_prompt(job.problem.question, job.text, job.problem.context)
                     for _, job in scored])
    share = (time.perf_counter() - start) / max(len(scored), 1)
    for _, job in scored:
        job.seconds += share
        job.score_seconds += share
    return {i: round(value, 6) for (i, _), value in zip(scored, values, strict=True)}


def _prediction(replicas: list[Dialogue], scores: list[float | None] | None,
                config: SolveConfig) -> Prediction:
    """One problem's prediction from its replicas: the answer by vote, and its solution."""
    first = replicas[0]
    usage = dict(
        prompt_tokens=sum(job.prompt_tokens for job in replicas),
        completion_tokens=sum(job.completion_tokens for job in replicas),
        seconds=round(sum(job.seconds for job in replicas), 4),
    )
    if scores is not None:
        usage["score_seconds"] = round(sum(job.score_seconds for job in replicas), 4)
    choice = choose(replicas, scores, config.vote)
    if choice.chosen is None:
        return Prediction(id=first.problem.id, error=first.error, **usage)
    failed = [job.error for job in replicas if job.error]
    kept = [job.text if job.error is None else None for job in replicas]
    return Prediction(
        id=first.problem.id, prediction=choice.chosen.text, answer=choice.answer,
        steps=choice.chosen.steps or None, **usage, samples=choice.samples,
        sample_errors=failed if choice.samples and failed else None,
        sample_texts=kept if config.keep_samples else None,
        scores=scores if scores is not None and len(replicas) > 1 else None, score=choice.score,
    )


def solve(
    problems: Sequence[Problem], generators: Mapping[str, GenerateFn], config: SolveConfig,
    scorer: Scorer | None = None,
) -> list[Prediction]:
    """Solve `problems` together; one `Prediction` per problem, in their order.

    `generators` maps each role of `ROLES[config.method]` (`model`, or `qg` and `qa`) to a
    backend bound to its student; gold guidance needs no `qg`. `scorer` (a verifier) scores
    every sample for `config.vote`.
    """
    if config.vote != "majority" and scorer is None:
        raise UserError(f"vote `{config.vote}` needs a verifier (--verifier DIR)")
    needed = set(ROLES[config.method]) - ({"qg"} if config.guidance == "gold" else set())
    missing = sorted(needed - set(generators))
    if missing:
        raise UserError(f"method `{config.method}` needs students for: {', '.join(missing)}")
    jobs = [Dialogue(problem, replica) for problem in problems for replica in range(config.samples)]
    call = _Caller(config)
    if jobs and config.method == "socratic":
        _socratic(jobs, generators.get("qg"), generators["qa"], config, call)
    elif jobs:
        _single_model(jobs, generators["model"], config, call)
    scored = score_samples(jobs, scorer) if scorer is not None and jobs else None
    n = config.samples
    return [
        _prediction(jobs[i * n:(i + 1) * n],
                    [scored.get(j) for j in range(i * n, (i + 1) * n)] if scored is not None else None,
                    config)
        for i in range(len(problems))
    ]
