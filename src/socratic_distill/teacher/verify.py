"""Checks on a parsed completion: the step arithmetic and the final answer against gold.

Arithmetic is checked, with the safe calculator only, wherever a solution writes a calculator
annotation `<<expr=value>>` or an equation `a op b = c` (also chained, `2 * 3 + 1 = 6 + 1 = 7`).
What the calculator cannot read (`x = 5`, words) is not checked rather than failed. A shown
result may be rounded to the decimals it shows (`10 / 3 = 3.33`).

The verdict: `correct` is True when every possible check passed, False when one failed, None
when there is no gold answer and nothing failed. `reject_reason` is `category: detail` and None
when the sample is kept; `keep_incorrect` keeps wrong answers and wrong arithmetic (still
`correct: false`), never what cannot be parsed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from socratic_distill.calculator import ANY_ANNOTATION_RE, safe_eval
from socratic_distill.eval.answers import answers_match
from socratic_distill.schemas import Problem
from socratic_distill.teacher.parse import Parsed

# A run of characters that can form arithmetic: numbers, operators, brackets, `$`, `%`, spaces.
_ARITH_CHARS = r"[\d.,$%()+\-*/x×÷^ \t]"
_LEFT_RE = re.compile(rf"{_ARITH_CHARS}+$")
_RIGHT_RE = re.compile(rf"^{_ARITH_CHARS}+")
_OPERATOR_RE = re.compile(r"\d\s*(?:[-+*/×÷^]|\bx\b|x(?=\s*\d))\s*[\d(.$]")
# `x` as a variable (`2x + 5`, `(5/2)x`), not as a times sign (`3 x 4`).
_VARIABLE_X_RE = re.compile(r"[\d)]x|x\s*(?=[-+*/=^)×÷]|$)|(?:^|[-+*/(^×÷])\s*x")
_FRACTION_RE = re.compile(r"(?<![\d.)])(\d+)/(\d+)(?![\d.(])")
# Words that join a number to the calculation after them: `12 x 1 and 1/4 = 15`.
_CONNECTIVES = {"and", "of", "plus", "minus", "times", "by", "over", "per"}


@dataclass(frozen=True)
class Verdict:
    correct: bool | None
    reject_reason: str | None


def has_gold(problem: Problem) -> bool:
    return bool(problem.answer and problem.answer.strip())


def verify(parsed: Parsed, problem: Problem, keep_incorrect: bool = False) -> Verdict:
    """The verdict on one parsed completion of `problem`."""
    gold = has_gold(problem)
    if parsed.error:
        return Verdict(False if gold else None, parsed.error)
    texts = [step.solution for step in parsed.steps] if parsed.steps else [parsed.cot or ""]
    for index, text in enumerate(texts, start=1):
        error = arithmetic_error(text)
        if error:
            where = f"step {index}: " if parsed.steps else ""
            return Verdict(False, None if keep_incorrect else f"arithmetic: {where}{error}")
    if not gold:
        return Verdict(None, None)
    if answers_match(parsed.final_answer, problem.answer, problem.answer_type or "number"):
        return Verdict(True, None)
    reason = f"wrong answer: {parsed.final_answer} (gold {problem.answer})"
    return Verdict(False, None if keep_incorrect else reason)


def arithmetic_error(text: str) -> str | None:
    """The first wrong calculation in `text`, described; None when all that can be read is right."""
    for annotation in ANY_ANNOTATION_RE.findall(text):
        expression, equals, shown = annotation.rpartition("=")
        if equals and _wrong(expression, shown):
            return f"<<{annotation}>>: {expression.strip()} is {_fmt(safe_eval(expression))}"
    plain = ANY_ANNOTATION_RE.sub(" ", text)
    for match in re.finditer(r"(?<![<>!=])=(?![=>])", plain):
        left = _left_operand(plain[: match.start()])
        right = _right_operand(plain[match.end():])
        if left and right and _OPERATOR_RE.search(left) and _wrong(left, right):
            return f"{left} = {right}: {left} is {_fmt(safe_eval(left))}"
    return None


def _left_operand(before: str) -> str | None:
    """The calculation just before `=`, or None when it is cut by words (`60 students x 2/3`,
    `200 + 200x`, `12 x 1 and 1/4`): then it is not all there and cannot be checked."""
    run = _LEFT_RE.search(before)
    if not run:
        return None
    # `for 3 days, 3 + 4 = 7`: a comma and a space end a clause, not a thousands group;
    # after a number (`14, 400 / 80`) it may be either, so nothing is checked.
    clause = re.split(r",\s", run.group(0))[-1]
    preceding = before[: len(before) - len(clause)]
    text = clause.strip()
    if (not re.match(r"[\d($.]|-\d", text) or not re.search(r"[\d)%]$", text)
            or _VARIABLE_X_RE.search(text) or re.search(r"\d,\s*$", preceding)
            or re.search(r"[–—−]\s*$|:$", preceding)):  # `$9 – (2 + 3)`, `6:00+48`
        return None
    word = re.search(r"([A-Za-z]+)\s*$", preceding)
    if word and word.group(1).lower() in _CONNECTIVES:
        return None
    return text


def _right_operand(after: str) -> str | None:
    """The value just after `=`, or None when a word is glued to it (`5A/5`, `24/Y`)."""
    run = _RIGHT_RE.match(after)
    if not run:
        return None
    clause = re.split(r",\s", run.group(0))[0]
    rest = after[len(clause):]
    if clause == run.group(0) and not clause[-1].isspace() and rest[:1].isalpha():
        return None
    # `$1 / 2 = 50 cents` (a unit change), `17/3 = 5 and 2/3`, `6:00+48 = 6:48`
    if re.match(r"\s*cents?\b|\s*and\s+\(?\d|:\d", rest, re.IGNORECASE):
        return None
    text = clause.strip().rstrip(".,").strip()
    if (not re.match(r"[\d($.]|-\s*[\d$]", text) or not re.search(r"[\d)%]$", text)
            or _VARIABLE_X_RE.search(text)):
        return None
    return text


def _values(expression: str) -> list[float]:
    """The expression's value, and its value with `a/b` written without spaces taken as one
    fraction (`25 / 1/3` is 75 to the writer, 8.33 to the calculator)."""
    values = [safe_eval(expression)]
    grouped = _FRACTION_RE.sub(r"(\1/\2)", expression)
    if grouped != expression:
        values.append(safe_eval(grouped))
    if "%" in expression:  # `$7500/75% = $100`: the percent sign as a label
        values.append(safe_eval(expression.replace("%", "")))
    return [value for value in values if value is not None]


def _wrong(expression: str, shown: str) -> bool:
    """True only when both sides evaluate and differ beyond rounding."""
    values, results = _values(expression), _values(shown)
    if not values or not results:
        return False
    if shown.strip().endswith("%"):  # `0.5 * 100 = 50%` and `1/2 = 50%` both read right
        results += [result * 100 for result in results]
    return not any(_close(value, result, shown) for value in values for result in results)


def _close(value: float, shown_value: float, shown: str) -> bool:
    if math.isclose(value, shown_value, rel_tol=1e-4, abs_tol=1e-6):
        return True
    if value.is_integer():
        return False
    decimals = re.search(r"\.(\d+)\s*%?\s*$", shown.strip())
    places = len(decimals.group(1)) if decimals else 0
    return abs(value - shown_value) <= 0.5 * 10**-places + 1e-9


def _fmt(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if value.is_integer() else f"{value:.6g}"
