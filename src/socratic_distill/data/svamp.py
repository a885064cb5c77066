"""SVAMP (Patel et al., 2021): `svamp:test` is the 1,000-problem challenge set; `svamp:train`
the 3,138 MAWPS + ASDiv-A problems the SVAMP authors train on.

Only the original files are read (`DATA_DIR/svamp/...`): no hub copy holds these exact files.
The training file masks numbers as `number0`, `number1`... with the values in a `Numbers`
column and is tokenised (`books , how many ?`); both are undone so questions read naturally.
SVAMP has equations but no worded steps, so `gold_steps` stays empty.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from socratic_distill.calculator import format_number
from socratic_distill.data.registry import DATA_DIR_ENV, register_dataset, require_file
from socratic_distill.errors import UserError
from socratic_distill.schemas import Problem

TEST_FILE = Path("svamp") / "SVAMP.json"
TRAIN_FILE = Path("svamp") / "mawps-asdiv-a_svamp" / "train.csv"

_MASK_RE = re.compile(r"\bnumber(\d+)\b")
_NUMERAL_RE = re.compile(r"^-?\d+(\.\d+)?$")
# Undo the tokeniser's spaces: before closing punctuation, in `Joan 's`, `multi - national`, `$ 5`.
_DETOKENISE = [
    (re.compile(r" +([,.?!;:])(?=\s|$)"), r"\1"),
    (re.compile(r" +(['’](?:s|re|ve|ll|d|m)|n't)\b"), r"\1"),
    (re.compile(r"(?<=[A-Za-z]) - (?=[A-Za-z])"), "-"),
    (re.compile(r"\$ +(?=\d)"), "$"),
]


@register_dataset(
    "svamp",
    ("train", "test"),
    "test",
    "SVAMP arithmetic word problems (1,000 test); train: MAWPS + ASDiv-A (3,138)",
)
def load_svamp(
    split: str, *, data_dir: Path | None, limit: int | None, options: dict
) -> list[Problem]:
    """Load `svamp:test` from SVAMP.json or `svamp:train` from the masked training CSV."""
    if options:
        raise UserError(f"svamp takes no dataset options, got: {', '.join(sorted(options))}")
    if data_dir is None:
        raise UserError(
            f"svamp: needs the original files; pass --data-dir DIR or set ${DATA_DIR_ENV} to a"
            f" folder holding {TEST_FILE} and {TRAIN_FILE}"
        )
    if split == "test":
        return load_test(require_file(data_dir / TEST_FILE, "svamp"))
    return load_train(require_file(data_dir / TRAIN_FILE, "svamp"))


def load_test(path: Path) -> list[Problem]:
    """SVAMP.json: question = Body + Question, as the SVAMP authors join them."""
    items = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    for index, item in enumerate(items):
        try:
            problems.append(
                Problem(
                    id=str(item["ID"]),
                    question=f"{item['Body'].strip()} {item['Question'].strip()}",
                    answer=format_number(float(item["Answer"])),
                    answer_type="number",
                    meta={"equation": item["Equation"].strip(), "type": item["Type"]},
                )
            )
        except KeyError as error:
            raise UserError(f"{path}: problem {index + 1} has no field `{error.args[0]}`") from None
    return problems


def load_train(path: Path) -> list[Problem]:
    """The masked training CSV, numbers put back into the question and equation."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return [
            _train_problem(row, f"svamp-train-{index}", f"{path}:{reader.line_num}")
            for index, row in enumerate(reader)
        ]


def _train_problem(row: dict[str, str], problem_id: str, where: str) -> Problem:
    for field in ("Question", "Numbers", "Equation", "Answer"):
        if row.get(field) is None:
            raise UserError(f"{where}: missing field `{field}`")
    values = [_format_value(value, where) for value in row["Numbers"].split()]
    equation = " ".join(_unmask(token, values, where) for token in row["Equation"].split())
    return Problem(
        id=problem_id,
        question=detokenise(_unmask(row["Question"], values, where)),
        answer=_format_value(row["Answer"], where),
        answer_type="number",
        meta={"equation": equation},
    )


def _format_value(text: str, where: str) -> str:
    # `56.0` -> `56`, `0.5` -> `0.5`: numbers as the problem's author would write them.
    if not _NUMERAL_RE.match(text.strip()):
        raise UserError(f"{where}: `{text}` is not a number")
    return format_number(float(text))


def _unmask(text: str, values: list[str], where: str) -> str:
    """Replace `numberK` by the K-th value; other numerals are written in the same style."""
    if _NUMERAL_RE.match(text):
        return _format_value(text, where)

    def value(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(values):
            raise UserError(f"{where}: `{match.group(0)}` but only {len(values)} numbers given")
        return values[index]

    return _MASK_RE.sub(value, text)


def detokenise(text: str) -> str:
    """`bookshelves , how many books ?` -> `bookshelves, how many books?`."""
    for pattern, replacement in _DETOKENISE:
        text = pattern.sub(replacement, text)
    return text.strip()
