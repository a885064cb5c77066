"""StrategyQA loader: yes/no answers, facts as context, decompositions as steps."""

from __future__ import annotations

import pytest

from socratic_distill.data import strategyqa
from socratic_distill.errors import UserError


def _load(split, data_dir):
    return strategyqa.load_strategyqa(split, data_dir=data_dir, limit=None, options={})


@pytest.mark.parametrize(("split", "count"), [("train", 2061), ("dev", 229)])
def test_counts_and_fields(shared_data, split, count):
    problems = _load(split, shared_data)
    assert len(problems) == count
    assert len({p.id for p in problems}) == count
    for problem in problems:
        assert problem.answer in ("yes", "no") and problem.answer_type == "yesno"
        assert problem.context
        assert problem.gold_steps
        assert all(
            s.subquestion and s.solution == "" and s.answer is None for s in problem.gold_steps
        )
        assert set(problem.meta) == {"term", "description"}


def test_first_dev_question(shared_data):
    albany = _load("dev", shared_data)[0]
    assert albany.id == "e0044a7b4d146d611e73"
    assert albany.answer == "no"
    assert (
        albany.context == "Albany, GA has around 75,000 people Albany, NY has almost 100,000 people"
    )
    assert [s.subquestion for s in albany.gold_steps][-1] == "Is #3 smaller than #4?"
    assert albany.meta["term"] == "Albany, Georgia"


def test_needs_a_data_dir():
    with pytest.raises(UserError, match="strategyqa: needs the original files"):
        _load("dev", None)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(UserError, match=r"strategyqa/dev\.json"):
        _load("dev", tmp_path)
