"""JSONL I/O: line-numbered errors and atomic writes."""

import json

import pytest

from socratic_distill.errors import UserError
from socratic_distill.jsonl import atomic_writer, drop_torn_tail, read_jsonl, write_jsonl
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


@pytest.mark.parametrize(
    ("content", "kept"),
    [
        (b'{"a": 1}\n{"b": 2}\n', b'{"a": 1}\n{"b": 2}\n'),  # whole: untouched
        (b'{"a": 1}\n{"b": 2', b'{"a": 1}\n'),  # a record cut mid-write
        (b'{"a": 1', b""),  # nothing complete at all
        (b"", b""),
        (b"x" * 70_000 + b"\n" + b"y" * 140_000, b"x" * 70_000 + b"\n"),  # tail over chunks
    ],
)
def test_drop_torn_tail_keeps_whole_lines_only(tmp_path, content, kept):
    path = tmp_path / "out.jsonl"
    path.write_bytes(content)
    assert drop_torn_tail(path) == len(content) - len(kept)
    assert path.read_bytes() == kept


def test_drop_torn_tail_of_a_missing_file_is_nothing(tmp_path):
    assert drop_torn_tail(tmp_path / "none.jsonl") == 0
    assert not (tmp_path / "none.jsonl").exists()
