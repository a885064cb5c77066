"""Where a wrong step-by-step solution first went wrong, judged against the gold steps.

Cheap and deterministic: no model, only the predicted steps beside the gold ones. The steps are
walked in order; the first predicted step whose answer is not the gold step's answer is the
place it went wrong, and why is decided in this order:

- `unparsable`: the step computes nothing that can be read (no result, no answer);
- `subquestion`: it asks for something other than the gold step (other numbers, other names
  or ordinals, or wording too far from the gold subquestion's);
- `miscopied`: its expression computes the gold value, but another value was written (after
  the calculator, or in the answer);
- `expression`: its expression (or its arithmetic) gives another value.

When every compared step is right, the solution has the wrong number of `steps` (it ended
early or ran on), or the right steps and a miscopied final answer. A CoT solution has no
subquestions: each sentence with a `<<expr=value>>` annotation counts as one step.
"""

from __future__ import annotations

import difflib
import re

from socratic_distill.calculator import ANNOTATION_RE, format_number, safe_eval
from socratic_distill.eval.answers import answers_match
from socratic_distill.formats import step_answer
from socratic_distill.schemas import Prediction, Problem, Step

FIRST_ERRORS = ("steps", "subquestion", "expression", "miscopied", "unparsable")
DESCRIPTIONS = {
    "steps": "wrong number of steps (ended early or ran on)",
    "subquestion": "a subquestion asking for something other than the gold step",
    "expression": "a wrong expression",
    "miscopied": "a value miscopied",
    "unparsable": "unparsable",
}
# Word-level similarity below which two subquestions with the same numbers ask different things.
SAME_QUESTION_RATIO = 0.6

_WORD_RE = re.compile(r"[a-z]+|\d+(?:\.\d+)?")
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+")
_ORDINALS = frozenset("first second third fourth fifth sixth seventh eighth ninth tenth".split())


def first_error(problem: Problem, prediction: Prediction) -> str | None:
    """The category of `prediction`'s first mistake (one of `FIRST_ERRORS`), or None when the
    problem has no gold steps or the prediction has no steps to compare."""
    located = locate_first_error(problem, prediction)
    return located[0] if located else None


def locate_first_error(problem: Problem, prediction: Prediction) -> tuple[str, int] | None:
    """`first_error` and the 0-based index of the step where it happened (for `steps`, the
    step where the solution ended early or ran on)."""
    gold = _gold_steps(problem)
    if not gold:
        return None
    steps = predicted_steps(prediction)
    if not steps:
        return ("unparsable", 0) if prediction.steps is not None or prediction.error else None
    for index, (predicted, expected) in enumerate(zip(steps, gold, strict=False)):
        mistake = _step_error(predicted, expected, problem.answer_type or "number")
        if mistake is not None:
            return mistake, index
    if len(steps) != len(gold):
        return "steps", min(len(steps), len(gold))
    return "miscopied", len(gold) - 1


def predicted_steps(prediction: Prediction) -> list[Step]:
    """The steps a prediction is judged by: its own, or a plain solution's computing sentences."""
    return prediction.steps or _cot_steps(prediction.prediction or "")


def _gold_steps(problem: Problem) -> list[Step]:
    """The gold steps, the last one answering with the problem's own answer."""
    steps = list(problem.gold_steps or [])
    if steps:
        steps[-1] = steps[-1].model_copy(update={"answer": problem.answer})
    return steps


def _cot_steps(text: str) -> list[Step]:
    return [Step(subquestion="", solution=sentence)
            for sentence in _SENTENCE_RE.split(text) if ANNOTATION_RE.search(sentence)]


def _step_error(predicted: Step, expected: Step, answer_type: str) -> str | None:
    target = step_answer(expected, answer_type)
    value = step_answer(predicted, answer_type)
    if value is None:
        return "unparsable"
    if target is None or answers_match(value, target, answer_type):
        return None
    if predicted.subquestion and not same_question(predicted.subquestion, expected.subquestion):
        return "subquestion"
    annotations = ANNOTATION_RE.findall(predicted.solution)
    if annotations:
        computed = safe_eval(annotations[-1][0])
        if computed is not None and answers_match(format_number(computed), target, answer_type):
            return "miscopied"
    return "expression"


def same_question(predicted: str, gold: str) -> bool:
    """Whether two subquestions ask the same: the same numbers, the same names and ordinals
    (`Ravi`, `Tuesday`, `fourth`: one word that changes what is asked), and similar enough
    words otherwise."""
    if sorted(_NUMBER_RE.findall(predicted)) != sorted(_NUMBER_RE.findall(gold)):
        return False
    if _entities(predicted) != _entities(gold):
        return False
    words = [_WORD_RE.findall(text.lower()) for text in (predicted, gold)]
    return difflib.SequenceMatcher(None, *words).ratio() >= SAME_QUESTION_RATIO


def _entities(question: str) -> list[str]:
    """The capitalised words after the first, and the ordinals: who or when is asked about."""
    words = re.findall(r"[A-Za-z]+", question)
    return sorted({w for w in words[1:] if w[0].isupper()} | {w for w in words if w in _ORDINALS})
