"""`build`: the five training sets from exported problems or from teacher annotations."""

import json

import pytest

from socratic_distill.build import build_from_file
from socratic_distill.errors import UserError
from socratic_distill.jsonl import read_jsonl, write_jsonl
from socratic_distill.schemas import Annotation, Problem, Step, TrainingExample

STEPS = [
    Step(subquestion="How many pens does Ann have?", solution="Ann has 3+4 = <<3+4=7>>7 pens."),
    Step(subquestion="How many pens in all?", solution="In all 7*2 = <<7*2=14>>14 pens."),
]


def problem(i, **extra):
    return Problem(id=f"p{i}", question=f"Ann has {i} pens. How many?", answer="14", **extra)


def test_builds_five_sets_from_exported_problems(tmp_path):
    source = tmp_path / "problems.jsonl"
    write_jsonl(source, [
        problem(1, gold_steps=STEPS, gold_cot="3+4=7. 7*2=14."),
        problem(2, gold_steps=STEPS),  # no CoT: left out of the cot set only
        problem(3),  # answer only
    ])
    counts = build_from_file(source, tmp_path / "sets")
    assert counts == {"answer": 3, "cot": 1, "unified": 2, "qg": 2, "qa": 2}
    for task, count in counts.items():
        examples = read_jsonl(tmp_path / "sets" / f"{task}.jsonl", TrainingExample)
        assert len(examples) == count and {e.task for e in examples} == {task}
    manifest = json.loads((tmp_path / "sets" / "build.json").read_text())
    assert manifest["examples"] == counts and len(manifest["annotations_sha256"]) == 64


def test_teacher_annotations_replace_the_gold_reasoning(tmp_path):
    source = tmp_path / "annotations.jsonl"
    teacher_steps = [Step(subquestion="What is 7*2?", solution="7*2 = <<7*2=14>>14.", answer="14")]
    write_jsonl(source, [
        Annotation(id="p1", sample=0, teacher="t", style="socratic", steps=teacher_steps,
                   final_answer="14", correct=True),
        Annotation(id="p1", sample=1, teacher="t", style="socratic", steps=teacher_steps,
                   final_answer="15", correct=False, reject_reason="wrong_answer"),
        Annotation(id="p2", sample=0, teacher="t", style="cot", cot="7*2 = 14.",
                   final_answer="14", correct=True),
    ])
    problems = [problem(1, gold_steps=STEPS), problem(2), problem(3, gold_steps=STEPS)]
    counts = build_from_file(source, tmp_path / "sets", problems=problems)
    # answer-only learns every problem's gold answer once; the rest learn the kept annotations
    assert counts == {"answer": 3, "cot": 1, "unified": 1, "qg": 1, "qa": 1}
    (qg,) = read_jsonl(tmp_path / "sets" / "qg.jsonl", TrainingExample)
    assert qg.id == "p1#0" and "What is 7*2?" in qg.text
    assert "Ann has" not in qg.text.split("\n", 1)[1]  # the gold steps are gone


def test_annotations_need_their_dataset(tmp_path):
    source = tmp_path / "annotations.jsonl"
    write_jsonl(source, [Annotation(id="zz", teacher="t", style="cot", cot="x", correct=True)])
    with pytest.raises(UserError, match="pass --dataset"):
        build_from_file(source, tmp_path / "sets")
    with pytest.raises(UserError, match="unknown problem `zz`"):
        build_from_file(source, tmp_path / "sets", problems=[problem(1)])


@pytest.mark.parametrize("content, message", [
    ("", "no problems"),
    ('{"id": "a", "question": "q"}\n', r"problems\.jsonl:1: field `answer`"),
])
def test_bad_input_writes_nothing(tmp_path, content, message):
    source = tmp_path / "problems.jsonl"
    source.write_text(content)
    with pytest.raises(UserError, match=message):
        build_from_file(source, tmp_path / "sets")
    assert not (tmp_path / "sets").exists()


def test_overlap_with_an_evaluation_split_is_counted_then_dropped(tmp_path):
    source = tmp_path / "problems.jsonl"
    leaked = Problem(id="p9", question="Ann has 9 pens and buys 4 boxes with 2 pens in each box.",
                     answer="17", gold_steps=STEPS)
    write_jsonl(source, [problem(1, gold_steps=STEPS), leaked])
    test_split = {"x:test": [Problem(id="t", answer="1",
                                     question="Ann has 9 pens and buys 4 boxes with 2 pens each?")]}
    counts = build_from_file(source, tmp_path / "kept", check_against=test_split)
    assert counts["answer"] == 2
    (overlap,) = json.loads((tmp_path / "kept" / "build.json").read_text())["contamination"]
    assert overlap == {"against": "x:test", "ngram": 8, "train_problems": 2, "sharing": 1,
                       "dropped": False, "examples": ["p9"]}
    counts = build_from_file(source, tmp_path / "clean", check_against=test_split,
                             drop_contaminated=True)
    ids = {e.id for e in read_jsonl(tmp_path / "clean" / "unified.jsonl", TrainingExample)}
    assert counts["answer"] == 1 and ids == {"p1"}
    with pytest.raises(UserError, match="needs the evaluation splits"):
        build_from_file(source, tmp_path / "none", drop_contaminated=True)


def test_dropping_teacher_annotations_of_contaminated_problems(tmp_path):
    source = tmp_path / "annotations.jsonl"
    steps = [Step(subquestion="What is 7*2?", solution="7*2 = <<7*2=14>>14.", answer="14")]
    write_jsonl(source, [Annotation(id=f"p{i}", teacher="t", style="socratic", steps=steps,
                                    final_answer="14", correct=True) for i in (1, 2)])
    problems = [problem(1), Problem(id="p2", answer="14",
                                    question="Bo has seven bags with two pens in every single bag.")]
    counts = build_from_file(source, tmp_path / "sets", problems=problems, drop_contaminated=True,
                             check_against={"x:test": [problems[1]]})
    assert counts["answer"] == 1 and counts["qg"] == 1
    (qa,) = read_jsonl(tmp_path / "sets" / "qa.jsonl", TrainingExample)
    assert qa.id == "p1#0"
