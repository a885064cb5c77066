"""Answers: normalisation (one definition for every stage), extraction and comparison.

A normalised answer is a string: a canonical number (`18`, `0.5`, `-3`), `yes`/`no`, or
stripped text. Numbers are compared with a relative tolerance.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Literal

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


def format_number(value: float) -> str:
    """Canonical text of a number: integers without `.0`, others without trailing zeros."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}" if abs(value) >= 1e-4 else repr(value)


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
