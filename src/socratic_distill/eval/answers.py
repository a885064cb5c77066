"""Answers: normalisation (one definition for every stage), extraction and comparison.

A normalised answer is a string: a canonical number (`18`, `0.5`, `-3`), `yes`/`no`, or
stripped text. Numbers are compared with a relative tolerance.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from fractions import Fraction
from typing import Literal

from socratic_distill.calculator import ANY_ANNOTATION_RE, format_number

AnswerType = Literal["number", "yesno", "text"]

_YES = {"yes", "true", "y"}
_NO = {"no", "false", "n"}
_NUMBER_RE = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_FRACTION_RE = re.compile(r"^([-+]?\d+)\s*/\s*(\d+)$")


def parse_number(text: str) -> float | None:
    """Parse one number written as people write answers: `$1,200.50`, `-3`, `3/4`, `45%`, `7.`."""
    cleaned = text.strip().replace(",", "").replace("$", "").replace("€", "").replace("£", "")
    cleaned = cleaned.rstrip(".").rstrip("%").strip()
    if _NUMBER_RE.match(cleaned):
        value = float(cleaned)
        return value if math.isfinite(value) else None
    fraction = _FRACTION_RE.match(cleaned)
    if fraction and int(fraction.group(2)) != 0:
        return float(Fraction(int(fraction.group(1)), int(fraction.group(2))))
    return None


def normalize_answer(raw: object, answer_type: AnswerType | None = None) -> tuple[str, AnswerType]:
    """Normalise a gold or predicted answer; infer its type when `answer_type` is None."""
    if isinstance(raw, bool):
        return ("yes" if raw else "no"), "yesno"
    if isinstance(raw, (int, float)) and answer_type in (None, "number"):
        return format_number(float(raw)), "number"
    text = str(raw).strip()
    if answer_type in (None, "yesno") and text.lower().rstrip(".") in _YES | _NO:
        return ("yes" if text.lower().rstrip(".") in _YES else "no"), "yesno"
    if answer_type in (None, "number"):
        value = parse_number(text)
        if value is not None:
            return format_number(value), "number"
    return " ".join(text.split()), answer_type or "text"


# --- Extraction: find the answer span in generated text, then normalise it. ---------------------
# Steps, as in lm-evaluation-harness's filters: a regex finds candidates, a selector takes the last
# one, `normalize_answer` canonicalises it, and `majority_vote` combines samples.

# One number as it appears in prose: optional sign and currency (either order), an integer part
# with or without thousands separators, decimals, an exponent, a fraction or a percent sign. The
# look-behind keeps the `-3` of `16-3` and the `5` of `x5` or `1.5` from starting a number.
_NUM = r"""
    (?<![\w./])
    -?[$€£]?-?
    (?:
        \d+/\d+(?![\d.])                               # a fraction such as 3/4
      | (?:\d{1,3}(?:,\d{3})+(?!,?\d)|\d+)(?:\.\d+)?   # 1,234,567.89 or 1234567.89
      | \.\d+                                          # .5
    )
    (?:[eE][-+]?\d+)?%?
"""
_NUMBER_TOKEN_RE = re.compile(_NUM, re.VERBOSE)

# What may sit between a marker and its answer: `:`, markdown emphasis, quotes, brackets.
_LEAD = r"[\s:*_`\"'(\[]*"
_MARKER = (
    r"(?:\#\#\#\#"
    r"|\banswer\s+is"             # The answer is, the final answer is
    r"|\banswer\s*:"              # Answer:, Final answer:
    r"|\\boxed\{\s*(?:\\\$)?"  # \boxed{18}, \boxed{\$18}
    rf"){_LEAD}"
)
# `A: 18` alone on its line is the GSM8K verifier format (OpenAI's example solutions); a line
# `A: 16 - 3 = 13 ...` is a whole solution, so only a number with at most two unit words counts.
_LINE_A = r"^[ \t]*A:[ \t]*"
_LINE_END = r"(?:[ \t]+[A-Za-z]+){0,2}[ \t]*\.?[ \t]*$"
_FLAGS = re.IGNORECASE | re.MULTILINE | re.VERBOSE

_STRICT_RES: dict[str, tuple[re.Pattern[str], ...]] = {
    "number": (
        re.compile(rf"{_MARKER}(?P<ans>{_NUM})", _FLAGS),
        re.compile(rf"{_LINE_A}(?P<ans>{_NUM}){_LINE_END}", _FLAGS),
    ),
    "yesno": (
        re.compile(rf"(?:{_MARKER}|{_LINE_A})(?P<ans>yes|no|true|false)\b", _FLAGS),
    ),
    "text": (
        re.compile(r"(?:\#\#\#\#|\banswer\s+is\b|\banswer\s*:)[\s:*]*(?P<ans>[^\n]*)", _FLAGS),
        re.compile(r"\\boxed\{(?P<ans>[^{}\n]*)\}", _FLAGS),
    ),
}
_ANY_YESNO_RE = re.compile(r"\b(yes|no|true|false)\b", re.IGNORECASE)


def _marked(text: str, answer_type: str) -> list[str]:
    """Every answer that follows a final-answer marker, in the order they appear in `text`."""
    found = [(m.start(), m.group("ans")) for regex in _STRICT_RES[answer_type]
             for m in regex.finditer(text)]
    return [answer for _, answer in sorted(found)]


# `<<16-3=13>>13`: the shown result follows, so the annotation goes; `<<16-3=13>>` alone (a
# truncated line) leaves its result, so the number is not lost.
_CALC_FOLLOWED_RE = re.compile(r"<<[^<>]*>>(?=\s*[-$€£]?\s*\.?\d)")
_CALC_RESULT_RE = re.compile(r"<<[^<>]*=([^<>=]*)>>")


def _strip_calculator(text: str) -> str:
    text = _CALC_FOLLOWED_RE.sub("", text)
    text = _CALC_RESULT_RE.sub(lambda match: f" {match.group(1).strip()} ", text)
    return ANY_ANNOTATION_RE.sub(" ", text)


def _last_number(matches: list[str]) -> str | None:
    """The last candidate that parses; an unparsable one (`3/0`) is passed over."""
    values = (parse_number(candidate) for candidate in reversed(matches))
    return next((format_number(value) for value in values if value is not None), None)


def _extract_number(text: str, mode: str) -> str | None:
    text = _strip_calculator(text)
    found = _last_number(_marked(text, "number"))
    if found is None and mode == "flexible":
        found = _last_number(_NUMBER_TOKEN_RE.findall(text))
    return found


def _extract_yesno(text: str, mode: str) -> str | None:
    marked = _marked(text, "yesno")
    if not marked and mode == "flexible":
        marked = _ANY_YESNO_RE.findall(text)
    return normalize_answer(marked[-1], "yesno")[0] if marked else None


def _clean_text(raw: str) -> str:
    # Drop the decoration around a short answer: emphasis, quotes, a closing period.
    decoration = " \t*_`\"'"
    return raw.strip(decoration).rstrip(".").strip(decoration)


def _extract_text(text: str, mode: str) -> str | None:
    marked = _marked(text, "text")
    found = _clean_text(marked[-1]) if marked else ""
    if not found and mode == "flexible":
        lines = [line for line in text.splitlines() if line.strip()]
        found = _clean_text(lines[-1]) if lines else ""
    return normalize_answer(found, "text")[0] if found else None


_EXTRACTORS = {"number": _extract_number, "yesno": _extract_yesno, "text": _extract_text}


def extract_answer(
    text: str | None,
    answer_type: AnswerType,
    mode: Literal["strict", "flexible"] = "flexible",
) -> str | None:
    """The normalised answer that `text` states, or None when it states none.

    `strict` accepts only an explicit final-answer marker (`#### 18`, `The answer is 18`,
    `Answer: 18`, `Final answer: 18`, `\\boxed{18}`, or `A: 18` alone on a line), the last one
    winning, as lm-evaluation-harness's gsm8k strict-match does. `flexible` falls back to the last
    number (or yes/no/true/false word, or non-blank line for text) when no marker is found.
    """
    if mode not in ("strict", "flexible"):
        raise ValueError(f"mode must be 'strict' or 'flexible', got {mode!r}")
    if not text or not text.strip():
        return None
    return _EXTRACTORS[answer_type](text, mode)


# --- Comparison and voting -------------------------------------------------------------------


def answers_match(
    predicted: str | None,
    gold: str,
    answer_type: AnswerType,
    rel_tol: float = 1e-4,
    abs_tol: float = 1e-6,
) -> bool:
    """Whether a predicted answer equals the gold one: numbers within tolerance, else as text."""
    if predicted is None:
        return False
    if answer_type == "number":
        pred_value, gold_value = parse_number(predicted), parse_number(gold)
        if pred_value is not None and gold_value is not None:
            # Tolerance forgives rounding (0.33333 for 1/3), never an off-by-one: 120006 is
            # within 1e-4 of 120000, so two whole numbers must be equal.
            if pred_value.is_integer() and gold_value.is_integer():
                return pred_value == gold_value
            return math.isclose(pred_value, gold_value, rel_tol=rel_tol, abs_tol=abs_tol)
    if answer_type == "yesno":
        return normalize_answer(predicted, "yesno")[0] == normalize_answer(gold, "yesno")[0]
    # Text, or a number on either side that does not parse: compare the words, ignoring case.
    return " ".join(predicted.split()).casefold() == " ".join(gold.split()).casefold()


def majority_vote(answers: list[str | None]) -> str | None:
    """Self-consistency: the most common extracted answer; ties go to the one seen first.

    Answers are compared as strings, so pass them normalised (as `extract_answer` returns them).
    None (nothing extracted) never wins; all None gives None.
    """
    counts = Counter(answer for answer in answers if answer is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(answer for answer in answers if answer is not None and counts[answer] == best)


def solution_result(solution: str, answer_type: AnswerType = "number") -> str | None:
    """What one worked step computes: its last `<<expr=value>>` result, else its extracted answer.

    The annotation comes first because a step often names other numbers after its result
    ("pays <<3*4=12>>12 dollars for 3 shirts").
    """
    results = _CALC_RESULT_RE.findall(solution) if answer_type == "number" else []
    if results:
        value, kind = normalize_answer(results[-1], "number")
        if kind == "number" and parse_number(value) is not None:
            return value
    return extract_answer(solution, answer_type, "flexible")
