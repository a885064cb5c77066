"""User files: `jsonl:PATH` and `csv:PATH`, field names as options, errors at FILE:LINE."""

from __future__ import annotations

import csv
import json

import pytest

from socratic_distill.data import gsm8k, strategyqa, svamp, userfile
from socratic_distill.errors import UserError
from socratic_distill.jsonl import write_jsonl


def _jsonl(path, limit=None, **options):
    return userfile.load_jsonl(str(path), data_dir=None, limit=limit, options=options)


def _csv(path, limit=None, **options):
    return userfile.load_csv(str(path), data_dir=None, limit=limit, options=options)


def _write_lines(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    ("module", "loader", "split"),
    [
        (gsm8k, "load_gsm8k", "test"),
        (svamp, "load_svamp", "train"),
        (strategyqa, "load_strategyqa", "dev"),
    ],
)
def test_export_loads_back_identically(shared_data, tmp_path, module, loader, split):
    problems = getattr(module, loader)(split, data_dir=shared_data, limit=None, options={})[:50]
    path = tmp_path / "export.jsonl"
    write_jsonl(path, problems)
    assert _jsonl(path) == problems


def test_plain_rows_and_defaults(tmp_path):
    path = _write_lines(
        tmp_path / "mine.jsonl",
        [
            {"question": "2+2?", "answer": 4, "level": "easy"},
            "",
            {"question": "Sky blue?", "answer": True},
        ],
    )
    first, second = _jsonl(path)
    assert (first.id, first.answer, first.answer_type) == ("mine-0", "4", "number")
    assert first.meta == {"level": "easy"}  # unnamed columns are kept
    assert (second.id, second.answer, second.answer_type) == ("mine-1", "yes", "yesno")
    assert len(_jsonl(path, limit=1)) == 1


def test_bad_json_line_names_file_and_line(tmp_path):
    path = _write_lines(tmp_path / "bad.jsonl", [{"question": "q", "answer": "1"}, "{not json"])
    with pytest.raises(UserError, match=r"bad\.jsonl:2: invalid JSON"):
        _jsonl(path)


def test_missing_question_names_file_and_line(tmp_path):
    path = _write_lines(tmp_path / "gap.jsonl", [{"question": "q", "answer": "1"}, {"answer": "2"}])
    with pytest.raises(UserError, match=r"gap\.jsonl:2: missing field `question`"):
        _jsonl(path)


def test_duplicate_ids_are_rejected(tmp_path):
    path = _write_lines(tmp_path / "dup.jsonl", [{"id": "a", "question": "q", "answer": "1"}] * 2)
    with pytest.raises(UserError, match=r"dup\.jsonl:2: id `a` already used on line 1"):
        _jsonl(path)


def test_unknown_option_is_named(tmp_path):
    path = _write_lines(tmp_path / "x.jsonl", [{"question": "q", "answer": "1"}])
    with pytest.raises(UserError, match="unknown dataset option `questoin_field`"):
        _jsonl(path, questoin_field="q")
    with pytest.raises(UserError, match="dataset option `answer_type`"):
        _jsonl(path, answer_type="float")


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match=r"no such file .*nope\.csv"):
        _csv(tmp_path / "nope.csv")


def test_csv_with_custom_fields(tmp_path):
    steps = json.dumps([{"subquestion": "How many?", "solution": "2+3=5", "answer": 5}])
    path = tmp_path / "mine.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [
                ["Problem", "Result", "Facts", "Steps", "Source"],
                ["Ann has 2 pens,\nand 3 more. How many?", "5", "She buys some.", steps, "book"],
                ["Is it blue?", "yes", "", "", "web"],
            ]
        )
    options = {
        "question_field": "Problem",
        "answer_field": "Result",
        "context_field": "Facts",
        "steps_field": "Steps",
    }
    first, second = _csv(path, **options)
    assert first.question == "Ann has 2 pens,\nand 3 more. How many?"
    assert (first.id, first.answer, first.context) == ("mine-0", "5", "She buys some.")
    assert first.gold_steps[0].answer == "5"
    assert first.meta == {"Source": "book"}
    assert (second.answer, second.context, second.gold_steps) == ("yes", None, None)
    assert [p.answer_type for p in _csv(path, **options, answer_type="text")] == ["text", "text"]


def test_csv_missing_field_names_the_row_line(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text('question,answer\n"two\nlines",1\nonly a question\n')
    with pytest.raises(UserError, match=r"rows\.csv:4: missing field `answer`"):
        _csv(path)


def test_named_optional_column_must_exist(tmp_path):
    path = _write_lines(tmp_path / "x.jsonl", [{"question": "q", "answer": "1"}])
    with pytest.raises(UserError, match=r"x\.jsonl:1: missing field `why`"):
        _jsonl(path, cot_field="why")
