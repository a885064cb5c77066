"""Teachers that call no model (gold, synthetic, replay) and the teacher spec registry."""

from __future__ import annotations

import json
import random

import pytest

from socratic_distill.errors import UserError
from socratic_distill.jsonl import read_jsonl
from socratic_distill.schemas import Annotation, Problem, Step
from socratic_distill.teacher import annotate, make_config
from socratic_distill.teacher.offline import corrupt_solution


def _run(problems, tmp_path, name="out.jsonl", **options):
    summary = annotate(problems, make_config(**options), tmp_path / name, progress=False)
    return summary, read_jsonl(tmp_path / name, Annotation)


@pytest.mark.parametrize("style", ["socratic", "cot"])
def test_gold_annotations_are_kept(problems, tmp_path, style):
    summary, records = _run(problems, tmp_path, teacher="gold", style=style)
    assert summary.kept == len(problems) and summary.problems_with_kept == len(problems)
    assert all(record.correct and record.teacher == "gold" for record in records)
    if style == "socratic":
        assert records[0].steps == [
            Step(subquestion="How many apples after buying?",
                 solution="2 + 0 = <<2+0=2>>2 apples.", answer="2"),
            Step(subquestion="How many after doubling?",
                 solution="2 * 2 = <<2*2=4>>4 apples.", answer="4"),
        ]
        assert records[0].completion.endswith("\nFinal answer: 4")
    else:
        assert records[0].cot == "2 + 0 = <<2+0=2>>2 apples.\n2 * 2 = <<2*2=4>>4 apples."


def test_gold_without_annotations_is_rejected_with_reason(tmp_path):
    bare = [Problem(id="a", question="?", answer="3")]
    summary, records = _run(bare, tmp_path, teacher="gold", style="cot")
    assert records[0].reject_reason.startswith("no gold annotation")
    assert summary.rejected == {"no gold annotation": 1}


def test_gold_strategyqa_decomposition_without_sub_answers(tmp_path):
    problem = Problem(id="s", question="Is the sky green?", answer="no", answer_type="yesno",
                      gold_steps=[Step(subquestion="What colour is the sky?", solution=""),
                                  Step(subquestion="Is blue green?", solution="")])
    _, records = _run([problem], tmp_path, teacher="gold")
    assert records[0].reject_reason is None and records[0].final_answer == "no"
    assert [step.subquestion for step in records[0].steps] == ["What colour is the sky?",
                                                               "Is blue green?"]


def test_synthetic_noise_zero_keeps_all_and_one_rejects_all(problems, tmp_path):
    clean, _ = _run(problems, tmp_path, "clean.jsonl", teacher="synthetic", samples=2)
    assert clean.kept == 2 * len(problems)
    noisy, records = _run(problems, tmp_path, "noisy.jsonl", teacher="synthetic", noise=1.0)
    assert noisy.kept == 0
    assert all(record.reject_reason.startswith("arithmetic") for record in records)


def test_synthetic_noise_rejects_about_the_expected_share(tmp_path):
    from teacher_helpers import sum_problem

    many = [sum_problem(index) for index in range(100)]
    summary, _ = _run(many, tmp_path, teacher="synthetic", noise=0.3, style="cot", seed=1)
    expected_kept = 100 * 0.7**2  # two steps, each clean with probability 0.7
    assert abs(summary.kept - expected_kept) < 20
    again, _ = _run(many, tmp_path, "again.jsonl", teacher="synthetic", noise=0.3, style="cot",
                    seed=1)
    assert again.kept == summary.kept  # seeded by (seed, id, sample)


def test_corruption_changes_the_result_consistently():
    rng = random.Random(0)
    wrong = corrupt_solution("She has 2 + 3 = <<2+3=5>>5 apples.", rng)
    assert wrong != "She has 2 + 3 = <<2+3=5>>5 apples."
    value = wrong.split("=")[-1].split(">>")[0]
    assert wrong.endswith(f">>{value} apples.") and value != "5"
    assert corrupt_solution("He is happy.", rng) is None
    assert corrupt_solution("4 * 2 = 8", rng) != "4 * 2 = 8"


def test_replay_reads_completions_and_leaves_missing_pairs(problems, tmp_path):
    replay = tmp_path / "replay.jsonl"
    lines = [{"id": "p0", "sample": 0, "completion": "Q: Sum?\nA: 2 + 0 = 2.\nQ: Double?\n"
              "A: 2 * 2 = 4.\nFinal answer: 4", "usage": {"prompt_tokens": 5}},
             {"id": "p1", "sample": 0, "completion": "Q: Sum?\nA: 2 + 1 = 4.\nFinal answer: 6"},
             {"id": "unknown", "sample": 0, "completion": "x"}]
    replay.write_text("".join(json.dumps(line) + "\n" for line in lines))
    summary, records = _run(problems[:3], tmp_path, teacher=f"replay:{replay}")
    assert [record.id for record in records] == ["p0", "p1"]
    assert records[0].reject_reason is None and records[0].usage == {"prompt_tokens": 5}
    assert records[1].reject_reason.startswith("arithmetic")
    assert summary.not_done == {"not in the replay file": 1} and not summary.complete


@pytest.mark.parametrize(("line", "reason"), [
    ('{"id": "p0", "sample": 0, "completion": "x"', "invalid JSON"),
    ('{"id": "p0", "sample": "first", "completion": "x"}', "field `sample`"),
    ('{"id": "p0", "sample": 0}', "field `completion`"),
    ('["p0", 0, "x"]', "expected a JSON object"),
    ('{"id": "p1", "sample": 0, "completion": "x"}', "appears twice"),
])
def test_replay_file_with_a_malformed_line(problems, tmp_path, line, reason):
    replay = tmp_path / "replay.jsonl"
    replay.write_text('{"id": "p1", "sample": 0, "completion": "x"}\n\n' + line + "\n")
    with pytest.raises(UserError) as caught:
        _run(problems, tmp_path, teacher=f"replay:{replay}")
    assert f"{replay}:3:" in str(caught.value) and reason in str(caught.value)
    assert not (tmp_path / "out.jsonl").exists() or (tmp_path / "out.jsonl").read_text() == ""


@pytest.mark.parametrize(("spec", "message"), [
    ("opneai:gpt-4o", "unknown teacher `opneai:gpt-4o` (did you mean `openai`?)"),
    ("glod", "did you mean `gold`?"),
    ("llama", "known: openai:MODEL"),
    ("openai", "teacher `openai` needs MODEL"),
    ("replay:", "teacher `replay` needs FILE"),
    ("gold:extra", "teacher `gold` takes no argument"),
])
def test_bad_teacher_specs(problems, tmp_path, spec, message):
    with pytest.raises(UserError) as caught:
        _run(problems, tmp_path, teacher=spec)
    assert message in str(caught.value)


def test_config_errors_name_the_field():
    with pytest.raises(UserError, match="`max_cost` needs `prices`"):
        make_config(teacher="gold", max_cost=1.0)
    with pytest.raises(UserError, match="`noise` only applies to the `synthetic` teacher"):
        make_config(teacher="gold", noise=0.1)
    with pytest.raises(UserError, match="`samples`"):
        make_config(teacher="gold", samples=0)
    with pytest.raises(UserError, match="`concurency`"):
        make_config(teacher="gold", concurency=3)
    assert make_config(teacher="gold").temperature == 0.0
    assert make_config(teacher="gold", samples=4).temperature == 0.7


def test_duplicate_problem_ids_are_refused(problems, tmp_path):
    with pytest.raises(UserError, match="appears 2 times"):
        _run([problems[0], problems[0]], tmp_path, teacher="gold")


def test_output_of_another_teacher_is_not_mixed_in(problems, tmp_path):
    _run(problems, tmp_path, teacher="gold")
    with pytest.raises(UserError, match="holds annotations by teacher `gold`"):
        _run(problems, tmp_path, teacher="synthetic")


def test_a_dataset_without_gold_answers_still_runs(tmp_path):
    from teacher_helpers import sum_problem

    bare = [sum_problem(index).model_copy(update={"answer": ""}) for index in range(3)]
    summary, records = _run(bare, tmp_path, teacher="synthetic", noise=0.0)
    assert all(record.correct is None and record.reject_reason is None for record in records)
    assert [record.final_answer for record in records] == ["4", "6", "8"]  # the last step's
    assert summary.no_gold == 3 and summary.kept == 3
    assert "3 problems have no gold answer" in summary.format()
