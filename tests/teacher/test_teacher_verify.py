"""The filter: arithmetic checked with the safe calculator, final answers against gold."""

from __future__ import annotations

import pytest

from socratic_distill.schemas import Problem
from socratic_distill.teacher.parse import parse_completion
from socratic_distill.teacher.verify import arithmetic_error, verify

RIGHT = "Q: How many in May?\nA: 48/2 = <<48/2=24>>24.\nQ: In total?\nA: 48 + 24 = 72.\n" \
        "Final answer: 72"


def _verdict(text: str, gold: str = "72", style: str = "socratic", answer_type="number",
             keep_incorrect: bool = False):
    problem = Problem(id="x", question="?", answer=gold, answer_type=answer_type)
    return verify(parse_completion(text, style, answer_type), problem, keep_incorrect)


@pytest.mark.parametrize("text", [
    "2 * 3 + 1 = 6 + 1 = 7",  # chained
    "<<48/2=24>>24 clips",
    "10 / 3 = 3.33 apples each",  # rounded to the decimals shown
    "1/2 = 50%",
    "0.5 * 100 = 50%",
    "1,200 + 300 = 1,500.",
    "3 x 4 = 12 eggs",
    "The price is $5 * 3 = $15.",
    "x = 5 + 3",  # algebra: not checked
    "20% of 50 = 10",  # words: not checked
    "Total = 15",  # no operator on the left: nothing to check
    "He is 3-4 years old; a == b",
    "60 students x 2/3 = 40 students",  # cut by words: not all there
    "200 + 200x = 228", "(5/2)x+5=930", "10 + 2*x = 50",  # algebra
    "12 x 1 and 1/4 = 15", "17/3 = 5 and 2/3 loads", "100/5 = 5A/5 or 20 = A",
    "The sun sets at 6:00+48=6:48 PM", "$1 / 2 = 50 cents", "$9 – ($1 + $3) = $5",
    "25 / 1/3 = 75", "$7500/75% = $100", "1.2 x 100% = 120 inches",
    "14, 400 / 80 = 180",
])
def test_arithmetic_that_reads_right_or_cannot_be_read_passes(text):
    assert arithmetic_error(text) is None


@pytest.mark.parametrize(("text", "shown"), [
    ("2 * 3 = 7", "2 * 3 = 7"),
    ("<<48/2=25>>25 clips", "<<48/2=25>>"),
    ("for 5 days, 3 + 4 = 8 in all", "3 + 4 = 8"),
    ("$7500 / 75% = $200", "$7500 / 75% = $200"),
    ("25 / 1/3 = 70", "25 / 1/3 = 70"),
    ("2 * 3 + 1 = 6 + 1 = 8", "6 + 1 = 8"),
    ("10 / 4 = 2.6", "10 / 4 = 2.6"),
])
def test_wrong_arithmetic_is_found(text, shown):
    error = arithmetic_error(text)
    assert error is not None and error.startswith(shown)


def test_kept_when_arithmetic_and_answer_are_right():
    verdict = _verdict(RIGHT)
    assert verdict.correct is True and verdict.reject_reason is None


def test_wrong_answer_rejected_and_numeric_tolerance():
    verdict = _verdict(RIGHT, gold="73")
    assert verdict.correct is False and verdict.reject_reason.startswith("wrong answer: 72")
    assert _verdict(RIGHT, gold="72.0").correct is True
    assert _verdict(RIGHT.replace("Final answer: 72", "Final answer: $72.00"), "72").correct


def test_wrong_arithmetic_rejected_even_with_the_right_answer():
    text = RIGHT.replace("48 + 24 = 72", "48 + 24 = 70")
    verdict = _verdict(text)
    assert verdict.correct is False
    assert verdict.reject_reason.startswith("arithmetic: step 2: 48 + 24 = 70")


def test_yes_no_answers():
    text = "Q: Is the sky green?\nA: No.\nFinal answer: No"
    assert _verdict(text, gold="no", answer_type="yesno").correct is True
    assert _verdict(text, gold="yes", answer_type="yesno").reject_reason.startswith("wrong")


def test_keep_incorrect_keeps_but_flags():
    wrong = _verdict(RIGHT, gold="73", keep_incorrect=True)
    assert wrong.correct is False and wrong.reject_reason is None
    bad_sum = _verdict(RIGHT.replace("= 72.", "= 70."), keep_incorrect=True)
    assert bad_sum.correct is False and bad_sum.reject_reason is None
    unparsable = _verdict("no idea", keep_incorrect=True)
    assert unparsable.reject_reason.startswith("unparsable")


def test_without_gold_correct_is_null_but_arithmetic_still_checked():
    verdict = _verdict(RIGHT, gold="")
    assert verdict.correct is None and verdict.reject_reason is None
    bad = _verdict(RIGHT.replace("= 72.", "= 70."), gold="")
    assert bad.correct is False and bad.reject_reason.startswith("arithmetic")


def test_cot_arithmetic_is_checked():
    verdict = _verdict("She sold 48 / 2 = 25 in May.\nFinal answer: 72", style="cot")
    assert verdict.reject_reason.startswith("arithmetic: 48 / 2 = 25")
