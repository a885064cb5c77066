"""bench/verifier_twins.py: a right sample's twin turns one operation around, carries the new
value into the later steps, and is labelled wrong; twins that leave whole numbers are dropped."""

from __future__ import annotations

import sys
from pathlib import Path

from socratic_distill.data.registry import load_problems
from socratic_distill.eval.answers import answers_match
from socratic_distill.formats import socratic_layout, verifier_example

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import verifier_twins  # noqa: E402

SOLUTION = ("Q: How many rocks did Diego collect?\n"
            "A: Diego collected 14*2 = <<14*2=28>>28 rocks. #### 28\n"
            "Q: How many rocks did Hugo collect?\n"
            "A: Hugo collected 28+12 = <<28+12=40>>40 rocks. #### 40\n"
            "Q: [END]")


def test_a_twin_turns_one_operation_around_and_carries_it_on():
    first = verifier_twins.twin(SOLUTION, 0)
    assert "14/2 = <<14/2=7>>7 rocks. #### 7" in first
    assert "7+12 = <<7+12=19>>19 rocks. #### 19" in first  # the later step reads the new value
    last = verifier_twins.twin(SOLUTION, 1)
    assert "14*2 = <<14*2=28>>28" in last and "28-12 = <<28-12=16>>16 rocks. #### 16" in last
    odd = SOLUTION.replace("14*2 = <<14*2=28>>28", "15*2 = <<15*2=30>>30").replace("28+12", "30+12")
    assert verifier_twins.twin(odd, 0) is None  # 15/2 is not whole
    assert verifier_twins.twin(SOLUTION, 2) is None  # no third step


def test_twins_are_wrong_examples_of_the_same_problem():
    problems = load_problems("synthetic:test", limit=30, options={"min_steps": 2, "max_steps": 3})
    right = [verifier_example(p, socratic_layout(p.question, p.gold_steps).text.split("\n", 1)[1],
                              True) for p in problems]
    wrong = verifier_example(problems[0], "A: no idea", False)
    added = verifier_twins.twins([*right, wrong])
    assert 0 < len(added) <= len(right)
    by_id = {p.id: p for p in problems}
    for example in added:
        start, end = example.loss_spans[0]
        assert example.text[start:end] == " no\n" and example.text.endswith("Verdict: no\n")
        answer = example.text.rsplit("#### ", 1)[1].split("\n")[0]
        assert not answers_match(answer, by_id[example.id].answer, "number")


def test_a_twin_whose_answer_does_not_change_is_left_out():
    unused = SOLUTION.replace("28+12 = <<28+12=40>>40 rocks. #### 40",
                              "14+12 = <<14+12=26>>26 rocks. #### 26")
    assert verifier_twins.twin(unused, 0) is None  # the last step never reads the first one's 28
    assert "14-12 = <<14-12=2>>2" in verifier_twins.twin(unused, 1)
