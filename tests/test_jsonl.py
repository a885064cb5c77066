"""JSONL I/O: line-numbered errors and atomic writes."""

import json

import pytest

from socratic_distill.errors import UserError
from socratic_distill.jsonl import atomic_writer, read_jsonl, write_jsonl
from socratic_distill.schemas import Problem


def test_round_trip(tmp_path):
    path = tmp_path / "p.jsonl"
    problems = [Problem(id=str(i), question=f"q{i}?", answer=f"{i},000") for i in range(3)]
    assert write_jsonl(path, problems) == 3
    loaded = read_jsonl(path, Problem)
    assert loaded == problems and loaded[1].answer == "1000"


@pytest.mark.parametrize("line, reason", [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"id": "x", "answer": "1"}', "field `question`"),
    ('{"id": "x", "question": "q", "answer": "1", "colour": "red"}', "field `colour`"),
])
def test_bad_line_names_file_and_line(tmp_path, line, reason):
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"id": "a", "question": "q", "answer": "1"})
    path.write_text(f"{good}\n\n{line}\n")
    with pytest.raises(UserError, match=rf"bad\.jsonl:3: .*{reason}"):
        read_jsonl(path, Problem)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_failed_write_leaves_nothing_behind(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("old\n")

    def records():
        yield {"a": 1}
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(path, records())
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_atomic_writer_creates_parents(tmp_path):
    with atomic_writer(tmp_path / "a" / "b.txt") as handle:
        handle.write("x")
    assert (tmp_path / "a" / "b.txt").read_text() == "x"
