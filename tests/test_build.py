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
