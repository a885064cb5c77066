"""Answer extraction, comparison and voting: an edge-case table, properties, and OpenAI's labels."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socratic_distill.eval.answers import (
    answers_match,
    extract_answer,
    format_number,
    majority_vote,
    parse_number,
)

GSM8K_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "gsm8k"

# (text, answer_type, mode, expected normalised answer or None)
EXTRACTION_CASES = [
    # numbers: the strict markers
    ("She has 5 left.\n#### 18", "number", "strict", "18"),
    ("#### 1,234,567", "number", "strict", "1234567"),
    ("So the answer is 18.", "number", "strict", "18"),
    ("The answer is: $18.00 dollars.", "number", "strict", "18"),
    ("Answer: -3", "number", "strict", "-3"),
    ("Final answer: 2.5 km", "number", "strict", "2.5"),
    ("The final answer is $\\boxed{42}$.", "number", "strict", "42"),
    ("\\boxed{\\$1,200}", "number", "strict", "1200"),
    ("The answer is **7**.", "number", "strict", "7"),
    ("The answer is 3/4", "number", "strict", "0.75"),
    ("The answer is 45%.", "number", "strict", "45"),
    ("The answer is -0.5", "number", "strict", "-0.5"),
    ("The answer is 5. Then the answer is 6.", "number", "strict", "6"),  # last marker wins
    ("#### 5\nActually, the answer is 7 apples", "number", "strict", "7"),
    ("16 - 3 = <<16-3=13>>13\nA: 13", "number", "strict", "13"),  # GSM8K verifier format
    ("A: $1,050.50 dollars", "number", "strict", "1050.5"),
    ("A: 16 - 3 = 13 eggs", "number", "strict", None),  # a solution after `A:`, not an answer
    # numbers: strict finds nothing without a marker
    ("She makes 9 * 2 = $<<9*2=18>>18 every day.", "number", "strict", None),
    ("18", "number", "strict", None),
    ("The answer is eighteen.", "number", "strict", None),
    # numbers: flexible falls back to the last number
    ("She makes 9 * 2 = $<<9*2=18>>18 every day.", "number", "flexible", "18"),
    ("The answer is eighteen, not 17.", "number", "flexible", "17"),
    ("So she has 18 apples", "number", "flexible", "18"),
    ("It costs $18.00 dollars", "number", "flexible", "18"),
    ("He runs 5 km", "number", "flexible", "5"),
    ("The total is 18.", "number", "flexible", "18"),
    ("Population: 1,234,567 people", "number", "flexible", "1234567"),
    ("It fell to -12 degrees", "number", "flexible", "-12"),
    ("16-3 leaves 13", "number", "flexible", "13"),
    ("16 - 3", "number", "flexible", "3"),  # a minus between numbers is not a sign
    ("She ate 3/4 of the pie", "number", "flexible", "0.75"),
    ("Only 45% passed", "number", "flexible", "45"),
    ("Each costs .5 dollars", "number", "flexible", "0.5"),
    ("Lists 1,2 and 3, 4", "number", "flexible", "4"),
    ("The point (3,4)", "number", "flexible", "4"),
    ("He paid $1,234, and left", "number", "flexible", "1234"),  # a comma that ends a clause
    ("So 16-3 = <<16-3=13>>", "number", "flexible", "13"),  # annotation without shown result
    ("<<2*3=6>>6 then <<6+1=7>>", "number", "flexible", "7"),
    ("#### 5\nThen 7 more", "number", "flexible", "5"),  # a marker beats a later number
    ("She divides by 3/0 and gets 4", "number", "flexible", "4"),
    ("No numbers here.", "number", "flexible", None),
    ("", "number", "flexible", None),
    ("   \n ", "number", "strict", None),
    # yes/no
    ("Paris is in France. So the answer is yes.", "yesno", "strict", "yes"),
    ("#### yes", "yesno", "strict", "yes"),
    ("Answer: No", "yesno", "strict", "no"),
    ("The answer is **True**", "yesno", "strict", "yes"),
    ("Yes at first. #### no", "yesno", "strict", "no"),
    ("Cats cannot fly, so no.", "yesno", "strict", None),
    ("Cats cannot fly, so no.", "yesno", "flexible", "no"),
    ("It is false that pigs fly", "yesno", "flexible", "no"),
    ("Yes, Obama was born in 1961.", "yesno", "flexible", "yes"),
    ("Nobody knows; notable.", "yesno", "flexible", None),  # words that merely contain no
    ("The answer is maybe.", "yesno", "flexible", None),
    # text
    ("Thinking...\nThe answer is **Paris**.", "text", "strict", "Paris"),
    ("#### New   York", "text", "strict", "New York"),
    ("\\boxed{blue whale}", "text", "strict", "blue whale"),
    ("Just thinking\nParis\n\n", "text", "strict", None),
    ("Just thinking\n  Paris  \n\n", "text", "flexible", "Paris"),
    ("", "text", "flexible", None),
]


@pytest.mark.parametrize(("text", "answer_type", "mode", "expected"), EXTRACTION_CASES)
def test_extract_answer(text: str, answer_type: str, mode: str, expected: str | None) -> None:
    assert extract_answer(text, answer_type, mode) == expected


def test_extract_answer_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        extract_answer("#### 1", "number", "lenient")  # type: ignore[arg-type]


MATCH_CASES = [
    ("18", "18", "number", True),
    ("18.0", "18", "number", True),
    ("$1,200", "1200", "number", True),
    ("0.3333333", "1/3", "number", True),  # rounding is forgiven
    ("0.33", "1/3", "number", False),
    ("120006", "120000", "number", False),  # within rel_tol, but whole numbers must be equal
    ("17", "18", "number", False),
    (None, "18", "number", False),
    ("eighteen", "18", "number", False),
    ("yes", "yes", "yesno", True),
    ("True", "yes", "yesno", True),
    ("no", "yes", "yesno", False),
    ("new  york", "New York", "text", True),
    ("Paris", "London", "text", False),
]


@pytest.mark.parametrize(("predicted", "gold", "answer_type", "expected"), MATCH_CASES)
def test_answers_match(predicted: str | None, gold: str, answer_type: str, expected: bool) -> None:
    assert answers_match(predicted, gold, answer_type) is expected


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (["18", "17", "18"], "18"),
        (["17", "18", "18", "17"], "17"),  # a tie goes to the answer seen first
        ([None, None, "5"], "5"),  # nothing extracted never wins
        ([None, None], None),
        ([], None),
    ],
)
def test_majority_vote(answers: list[str | None], expected: str | None) -> None:
    assert majority_vote(answers) == expected


# --- Properties ---------------------------------------------------------------------------------

finite_floats = st.floats(allow_nan=False, allow_infinity=False)


@given(st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1))
def test_integers_round_trip_exactly(n: int) -> None:
    assert format_number(n) == str(n)
    assert parse_number(format_number(n)) == n


@given(finite_floats)
def test_floats_round_trip_to_ten_digits(x: float) -> None:
    text = format_number(x)
    assert math.isclose(parse_number(text), x, rel_tol=1e-9, abs_tol=0.0)
    assert format_number(parse_number(text)) == text  # normalising twice changes nothing


@given(st.one_of(st.integers(min_value=-(10**18), max_value=10**18), finite_floats))
def test_extract_after_marker_is_format_number(n: int | float) -> None:
    assert extract_answer(f"#### {n}", "number", "strict") == format_number(n)


# --- OpenAI's GSM8K example solutions: our extraction must reproduce their labels ---------------

MODELS = {  # model -> solutions OpenAI labelled correct, out of 1,319
    "6b_finetuning": 286,
    "6b_verification": 515,
    "175b_finetuning": 458,
    "175b_verification": 742,
}


def _read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="module")
def openai_solutions() -> tuple[list[dict], list[str]]:
    solutions, test = GSM8K_DIR / "example_model_solutions.jsonl", GSM8K_DIR / "test.jsonl"
    if not (solutions.is_file() and test.is_file()):
        pytest.skip(f"GSM8K example solutions not found in {GSM8K_DIR} (shared data absent)")
    rows, gold_rows = _read(solutions), _read(test)
    assert [row["question"] for row in rows] == [row["question"] for row in gold_rows]
    gold = [extract_answer(row["answer"], "number", "strict") for row in gold_rows]
    assert None not in gold
    return rows, gold


@pytest.mark.parametrize("mode", ["strict", "flexible"])
@pytest.mark.parametrize("model", list(MODELS))
def test_reproduces_openai_is_correct_labels(
    openai_solutions: tuple[list[dict], list[str]], model: str, mode: str
) -> None:
    rows, gold = openai_solutions
    ours = [
        answers_match(extract_answer(row[model]["solution"], "number", mode), answer, "number")
        for row, answer in zip(rows, gold, strict=True)
    ]
    theirs = [row[model]["is_correct"] for row in rows]
    agreement = sum(a == b for a, b in zip(ours, theirs, strict=True)) / len(rows)
    assert agreement >= 0.99, f"{model}: agreement {agreement:.2%}"
    assert sum(theirs) == MODELS[model]
    assert sum(ours) == MODELS[model], f"{model}: {sum(ours)} correct, OpenAI says {MODELS[model]}"
