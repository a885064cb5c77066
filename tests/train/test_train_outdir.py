"""The student directory's `student.json`, read once for training, solving and serving."""

import json

import pytest

from socratic_distill.errors import UserError
from socratic_distill.train.outdir import read_student_file


def test_read_student_file_returns_the_recorded_metadata(tmp_path):
    (tmp_path / "student.json").write_text(json.dumps({"task": "qa", "format_version": 2}))
    assert read_student_file(tmp_path) == {"task": "qa", "format_version": 2}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"--qa: .* has no student\.json: not a trained student directory"),
        ("{not json", r"--qa: .*student\.json: invalid JSON"),
        ("[1, 2]", r"--qa: .*student\.json: expected a JSON object"),
        (b"\xff\xfe", r"--qa: .*student\.json: invalid JSON"),
    ],
)
def test_a_missing_or_bad_student_file_is_a_one_line_error(tmp_path, content, message):
    if isinstance(content, bytes):
        (tmp_path / "student.json").write_bytes(content)
    elif content is not None:
        (tmp_path / "student.json").write_text(content)
    with pytest.raises(UserError, match=message) as caught:
        read_student_file(tmp_path, "--qa")
    assert "\n" not in str(caught.value)
