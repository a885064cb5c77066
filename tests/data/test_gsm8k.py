"""GSM8K loader: counts, the merge of main and Socratic versions, hub fallback, errors."""

from __future__ import annotations

import json
import sys
import types

import pytest

from socratic_distill.data import gsm8k
from socratic_distill.errors import UserError
from socratic_distill.eval.answers import solution_result


def _load(split, data_dir, limit=None, options=None):
    return gsm8k.load_gsm8k(split, data_dir=data_dir, limit=limit, options=options or {})


@pytest.mark.parametrize(("split", "count"), [("train", 7473), ("test", 1319)])
def test_counts_steps_and_numeric_answers(shared_data, split, count):
    problems = _load(split, shared_data)
    assert len(problems) == count
    assert [p.id for p in problems[:2]] == [f"gsm8k-{split}-0", f"gsm8k-{split}-1"]
    for problem in problems:
        assert problem.answer_type == "number"
        assert problem.answer.lstrip("-").replace(".", "", 1).isdigit(), problem.answer
        assert problem.gold_steps, problem.id
        assert all(step.subquestion and step.solution for step in problem.gold_steps), problem.id
        assert "####" not in problem.gold_cot


def test_first_problem(shared_data):
    natalia = _load("train", shared_data, limit=1)[0]
    assert natalia.question.startswith("Natalia sold clips to 48 of her friends")
    assert natalia.answer == "72"
    assert [step.answer for step in natalia.gold_steps] == ["24", "72"]
    assert natalia.gold_steps[0].subquestion == "How many clips did Natalia sell in May?"
    assert "<<48/2=24>>" in natalia.gold_steps[0].solution
    assert natalia.gold_cot.splitlines() == [
        "Natalia sold 48/2 = <<48/2=24>>24 clips in May.",
        "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.",
    ]
    assert natalia.meta == {"source": "gsm8k/train.jsonl"}


def test_empty_socratic_steps_are_skipped(shared_data):
    # train 2815 has a blank solution line, and its Socratic twin a `subquestion ** ` line.
    terry = _load("train", shared_data)[2815]
    assert [step.answer for step in terry.gold_steps] == ["40", "30"]
    assert "\n\n" not in terry.gold_cot


def test_all_of_train_loads_with_its_steps(shared_data):
    # No timing here (the machines are noisy): the loader's speed is bench work.
    problems = _load("train", shared_data)
    assert len(problems) == 7473
    assert len({problem.id for problem in problems}) == 7473
    assert sum(bool(problem.gold_steps) for problem in problems) == 7473


@pytest.mark.parametrize(
    ("solution", "answer"),
    [
        ("He pays 2*3 = $<<2*3=6>>6 and 1 more.", "6"),
        ("So 3/4=<<3/4=3/4>>3/4 of it.", "0.75"),
        ("In total 1,200 - 40-10 = 1,150 apples", "1150"),
        ("Let x be the amount she paid.", None),
    ],
)
def test_step_answer(solution, answer):
    assert solution_result(solution) == answer


def _write(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


ROW = {"question": "Q?", "answer": "A is 1+1=<<1+1=2>>2.\n#### 2"}
SOCRATIC = {"question": "Q?", "answer": "What is A? ** A is 1+1=<<1+1=2>>2.\n#### 2"}


def test_questions_must_agree(tmp_path):
    (tmp_path / "gsm8k").mkdir()
    _write(tmp_path / "gsm8k" / "test.jsonl", [ROW, ROW])
    _write(tmp_path / "gsm8k" / "test_socratic.jsonl", [SOCRATIC, {**SOCRATIC, "question": "B?"}])
    with pytest.raises(UserError, match=r"test_socratic\.jsonl:2: question differs"):
        _load("test", tmp_path)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(UserError, match=r"gsm8k/train\.jsonl"):
        _load("train", tmp_path)


def test_options_are_rejected(shared_data):
    with pytest.raises(UserError, match="no dataset options"):
        _load("test", shared_data, options={"x": "1"})


def test_hub_rows_take_the_same_path(monkeypatch, shared_data):
    rows = {
        version: [json.loads(line) for line in path.read_text().splitlines()[:3]]
        for version, path in [
            ("main", shared_data / "gsm8k" / "test.jsonl"),
            ("socratic", shared_data / "gsm8k" / "test_socratic.jsonl"),
        ]
    }
    fake = types.SimpleNamespace(load_dataset=lambda hub_id, version, split: rows[version])
    monkeypatch.setitem(sys.modules, "datasets", fake)
    from_hub = _load("test", None)
    local = _load("test", shared_data, limit=3)
    assert [p.model_dump(exclude={"meta"}) for p in from_hub] == [
        p.model_dump(exclude={"meta"}) for p in local
    ]
    assert from_hub[0].meta == {"source": "hf:openai/gsm8k"}


def test_offline_hub_says_what_to_do(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'openai/gsm8k' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    with pytest.raises(UserError, match="hub could not be reached") as error:
        _load("test", None)
    assert "--data-dir" in str(error.value) and "SOCRATIC_DATA_DIR" in str(error.value)
    assert "ConnectionError: Couldn't reach" in str(error.value)


def test_registry_level(shared_data):
    pytest.importorskip("socratic_distill.data.synthetic")
    from socratic_distill.data.registry import load_problems

    problems = load_problems("gsm8k:test", data_dir=shared_data, limit=4)
    assert [p.id for p in problems] == [f"gsm8k-test-{i}" for i in range(4)]
