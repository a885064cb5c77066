"""SVAMP loader: the challenge set as written, the training set unmasked and detokenised."""

from __future__ import annotations

import re

import pytest

from socratic_distill.data import svamp
from socratic_distill.errors import UserError


def _load(split, data_dir):
    return svamp.load_svamp(split, data_dir=data_dir, limit=None, options={})


@pytest.mark.parametrize(("split", "count"), [("train", 3138), ("test", 1000)])
def test_counts_numeric_answers_no_masks(shared_data, split, count):
    problems = _load(split, shared_data)
    assert len(problems) == count
    assert len({p.id for p in problems}) == count
    for problem in problems:
        assert problem.answer_type == "number"
        assert re.fullmatch(r"-?\d+(\.\d+)?", problem.answer), problem.answer
        assert not re.search(r"number\d", problem.question), problem.question
        assert not re.search(r"number\d", problem.meta["equation"]), problem.meta["equation"]
        assert "  " not in problem.question and " ?" not in problem.question


def test_test_problem(shared_data):
    first = _load("test", shared_data)[0]
    assert first.id == "chal-1"
    assert first.question == (
        "Each pack of dvds costs 76 dollars. If there is a discount of 25 dollars on each pack"
        " How much do you have to pay to buy each pack?"
    )
    assert first.answer == "51"
    assert first.meta == {"equation": "( 76.0 - 25.0 )", "type": "Subtraction"}


def test_train_problem_is_unmasked(shared_data):
    first = _load("train", shared_data)[0]
    assert first.id == "svamp-train-0"
    assert first.question == (
        "Bryan took a look at his books as well. If Bryan has 56 books in each of his"
        " 9 bookshelves, how many books does he have in total?"
    )
    assert first.answer == "504"
    assert first.meta["equation"] == "* 56 9"


def test_detokenise():
    text = "Joan 's multi - national shop sells $ 5 pens , 0.5 each . Why ?"
    assert svamp.detokenise(text) == "Joan's multi-national shop sells $5 pens, 0.5 each. Why?"


def test_needs_a_data_dir():
    with pytest.raises(UserError, match="svamp: needs the original files; pass --data-dir"):
        _load("test", None)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(UserError, match=r"svamp/SVAMP\.json"):
        _load("test", tmp_path)


def test_mask_without_value_names_the_line(tmp_path):
    path = tmp_path / "svamp" / "mawps-asdiv-a_svamp" / "train.csv"
    path.parent.mkdir(parents=True)
    path.write_text("Question,Numbers,Equation,Answer\nA has number1 pens ?,3.0,+ number1,3.0\n")
    with pytest.raises(UserError, match=r"train\.csv:2: `number1` but only 1 numbers"):
        _load("train", tmp_path)
