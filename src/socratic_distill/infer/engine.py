"""The Socratic turn engine: one dialogue's state, its next prompts, the parsing of each turn,
its seeds, and the choice among a problem's samples.

Two drivers run it: `solvers.solve` over whole batches, and serve's scheduler, which adds
admission, streaming and cancellation around the same dialogues. Everything that decides what
a student is asked and what its answer means lives here (and in `formats`), so the two cannot
diverge.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from socratic_distill.eval.answers import majority_vote
from socratic_distill.formats import (
    header,
    parse_solution,
    parse_subquestion,
    qa_prompt,
    qg_prompt,
    socratic_layout,
    step_answer,
)
from socratic_distill.schemas import Problem, Step

if TYPE_CHECKING:  # the engine itself needs no torch
    from socratic_distill.infer.generate import GenerateFn, Generation

log = logging.getLogger(__name__)


def turn_seed(seed: int, key: str, replica: int, turn: int) -> int:
    """The sampling seed of one call: the same for a problem's sample and turn wherever run."""
    return zlib.crc32(f"{seed}/{key}/{replica}/{turn}".encode())


@dataclass(eq=False)
class Dialogue:
    """One solution attempt of one problem (one of its samples): the steps so far and usage."""

    problem: Problem
    replica: int = 0
    steps: list[Step] = field(default_factory=list)
    answer: str | None = None
    text: str = ""
    ended: bool = False  # the decomposer said it is done
    done: bool = False
    error: str | None = None
    failure: BaseException | None = None  # what raised, when something did (serve maps it)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    score_seconds: float = 0.0  # the verifier's share of `seconds`

    @property
    def answer_type(self) -> str:
        return self.problem.answer_type or "number"

    @property
    def key(self) -> tuple[str, int]:
        """Names this dialogue's KV cache entries."""
        return self.problem.id, self.replica

    def seed(self, base: int, turn: int) -> int:
        return turn_seed(base, self.problem.id, self.replica, turn)

    def fail(self, error: str | BaseException) -> None:
        if isinstance(error, BaseException):
            self.failure, error = error, f"{type(error).__name__}: {error}"
        self.error, self.done = error, True

    # ---- a socratic turn: the decomposer asks, the solver answers ----

    def ask_prompt(self, include_solutions: bool = True) -> str:
        return qg_prompt(self.problem.question, self.steps, self.problem.context,
                         include_solutions=include_solutions)

    def take_subquestion(self, text: str) -> str | None:
        """Record the decomposer's line; None (and the dialogue ends) when it says it is done."""
        return self.add_subquestion(parse_subquestion(text))

    def add_subquestion(self, subquestion: str | None) -> str | None:
        """The next subquestion (a parsed or a gold one); None ends the dialogue."""
        if subquestion is None:
            self.done, self.ended = True, self.error is None
        else:
            self.steps.append(Step(subquestion=subquestion, solution=""))
        return subquestion

    def solve_prompt(self) -> str:
        return qa_prompt(self.problem.question, self.steps[:-1], self.steps[-1].subquestion,
                         self.problem.context)

    def take_solution(self, text: str, max_steps: int | None = None) -> Step:
        """Record the solver's line as the last step; at `max_steps` steps the dialogue stops."""
        solved = parse_solution(text, self.answer_type)
        self.steps[-1] = Step(subquestion=self.steps[-1].subquestion, solution=solved.solution,
                              answer=solved.answer)
        if max_steps is not None and len(self.steps) >= max_steps:
            self.done = True
        return self.steps[-1]

    def close(self) -> None:
        """The final answer (the last step's) and the dialogue's text after the header."""
        if self.steps:
            self.answer = step_answer(self.steps[-1], self.answer_type)
        layout = socratic_layout(self.problem.question, self.steps, context=self.problem.context,
                                 finished=self.ended and self.error is None,
                                 answer_type=self.answer_type)
        self.text = layout.text[len(header(self.problem.question, self.problem.context)):]


@dataclass(frozen=True)
class Choice:
    """A problem's answer from its samples, and the sample it is taken from."""

    answer: str | None
    chosen: Dialogue | None  # None: every sample failed
    samples: list[str | None] | None  # each sample's answer, with more than one sample
    score: float | None = None  # the chosen sample's verifier score


def choose(dialogues: Sequence[Dialogue], scores: Sequence[float | None] | None = None,
           vote: str = "majority") -> Choice:
    """The answer by `vote` over the samples that did not fail: `majority` (self-consistency),
    `best` (the highest verifier score: best-of-N) or `weighted` (the answer whose samples'
    scores sum highest). The chosen sample is the best-scored (else the first) giving it."""
    scores = list(scores) if scores is not None else [None] * len(dialogues)
    ok = [(d, s) for d, s in zip(dialogues, scores, strict=True) if d.error is None]
    if not ok:
        return Choice(None, None, None)
    many = len(dialogues) > 1
    samples = [d.answer for d in dialogues] if many else None
    if vote != "majority" and any(s is None for _, s in ok):
        raise ValueError(f"vote `{vote}` needs a verifier score for every sample")
    if vote == "best":
        chosen, score = max(ok, key=lambda pair: pair[1])
        return Choice(chosen.answer, chosen, samples, score)
    if vote == "weighted":
        totals: dict[str, float] = {}  # like the majority vote, no answer never wins
        for d, s in ok:
            if d.answer is not None:
                totals[d.answer] = totals.get(d.answer, 0.0) + s
        answer = max(totals, key=totals.__getitem__) if totals else None
    else:
        answer = majority_vote([d.answer for d, _ in ok]) if many else ok[0][0].answer
    giving = [pair for pair in ok if pair[0].answer == answer] or ok[:1]
    chosen, score = max(giving, key=lambda pair: -1.0 if pair[1] is None else pair[1])
    return Choice(answer, chosen, samples, score)


def generate_isolated(
    fn: GenerateFn, prompts: Sequence[str], seeds: Sequence[int], keys: Sequence | None = None,
    on_call: Callable[[int], None] | None = None, **settings,
) -> list[Generation | BaseException]:
    """Generate `prompts` in one call; if it raises, halve and retry, so that a failing prompt
    (one too long for the context window, say) fails alone, in a few calls, and every other
    prompt is still answered. Each row's result, or the exception its own prompt raised."""
    results: list[Generation | BaseException] = [RuntimeError("not generated")] * len(prompts)

    def run(indices: list[int]) -> None:
        if on_call is not None:
            on_call(len(indices))
        extra = {"prefix_keys": [keys[i] for i in indices]} if keys is not None else {}
        try:
            generated = fn([prompts[i] for i in indices], seed=[seeds[i] for i in indices],
                           **settings, **extra)
            for i, result in zip(indices, generated, strict=True):
                results[i] = result
        except Exception as error:  # noqa: BLE001 - reported on the row's own dialogue
            if len(indices) == 1:
                results[indices[0]] = error
                return
            if len(indices) == len(prompts):
                log.warning("a batch of %d failed; halving it to find the failing prompts",
                            len(prompts), exc_info=True)
            half = len(indices) // 2
            run(indices[:half])
            run(indices[half:])

    if prompts:
        run(list(range(len(prompts))))
    return results
