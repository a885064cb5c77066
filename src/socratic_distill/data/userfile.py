"""Your own problems from a JSONL or CSV file: `jsonl:PATH` and `csv:PATH`.

Field names are options (`--dataset-option question_field=q`). With the default options a file
written by `data export` (our `Problem` format) loads back unchanged. Columns that no option
names are kept in `meta`. Errors point at `FILE:LINE`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from socratic_distill.data.registry import register_dataset
from socratic_distill.errors import UserError, describe_validation
from socratic_distill.eval.answers import AnswerType, normalize_answer
from socratic_distill.jsonl import iter_numbered
from socratic_distill.schemas import Problem, Step

Record = dict[str, Any]
RowReader = Callable[[Path], Iterator[tuple[int, Record]]]


class UserFileOptions(BaseModel):
    """Where each `Problem` field is found in a row. Optional fields default to our own names."""

    model_config = ConfigDict(extra="forbid")

    question_field: str = Field("question", description="Column with the question.")
    answer_field: str = Field("answer", description="Column with the gold answer.")
    id_field: str = Field("id", description="Column with a unique id; absent: `{stem}-{index}`.")
    context_field: str | None = Field(None, description="Column with supporting text.")
    answer_type: AnswerType | None = Field(
        None, description="number, yesno or text for every row; else the row's `answer_type`."
    )
    steps_field: str | None = Field(
        None, description="Column with a list of {subquestion, solution, answer}."
    )
    cot_field: str | None = Field(None, description="Column with a step-by-step solution.")
    unlabelled: bool = Field(
        False, description="The problems have no gold answers (e.g. to annotate): answers stay empty."
    )


# The names a `data export` file uses, looked up when no option names another column.
_DEFAULT_OPTIONAL = {
    "context_field": "context",
    "steps_field": "gold_steps",
    "cot_field": "gold_cot",
}


def _parse_options(name: str, options: dict) -> UserFileOptions:
    try:
        return UserFileOptions.model_validate(options)
    except ValidationError as error:
        first = error.errors()[0]
        option = ".".join(str(part) for part in first["loc"])
        if first["type"] == "extra_forbidden":
            known = ", ".join(UserFileOptions.model_fields)
            raise UserError(f"{name}: unknown dataset option `{option}`; known: {known}") from None
        raise UserError(f"{name}: dataset option `{option}`: {first['msg']}") from None


def iter_numbered_csv(path: Path) -> Iterator[tuple[int, Record]]:
    """Yield (line number where the row starts, row) for each row after the header."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise UserError(f"{path}:1: no header row")
        while True:
            start = reader.line_num + 1  # rows may span lines; report where the row begins
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise UserError(f"{path}:{start}: bad CSV ({error})") from None
            if not row:
                continue
            if len(row) > len(header):
                raise UserError(
                    f"{path}:{start}: {len(row)} fields but the header has {len(header)}"
                )
            yield start, dict(zip(header, row, strict=False))  # short rows: fields missing


@register_dataset(
    "jsonl", (), "", "your own problems, one JSON object a line: `jsonl:PATH`", free_split=True
)
def load_jsonl(
    split: str, *, data_dir: Path | None, limit: int | None, options: dict
) -> list[Problem]:
    """Load `split` (a file path) as JSONL; `data_dir` is not used."""
    return _load("jsonl", split, iter_numbered, limit, options)


@register_dataset(
    "csv", (), "", "your own problems, a CSV file with a header row: `csv:PATH`", free_split=True
)
def load_csv(
    split: str, *, data_dir: Path | None, limit: int | None, options: dict
) -> list[Problem]:
    """Load `split` (a file path) as CSV; `data_dir` is not used."""
    return _load("csv", split, iter_numbered_csv, limit, options)


def _load(
    name: str, file: str, reader: RowReader, limit: int | None, options: dict
) -> list[Problem]:
    settings = _parse_options(name, options)
    path = Path(file).expanduser()
    if not path.is_file():
        raise UserError(f"{name}: no such file {path}")
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, row in reader(path):
        if limit is not None and len(problems) >= limit:
            break
        where = f"{path}:{number}"
        problem = row_to_problem(row, settings, where, default_id=f"{path.stem}-{len(problems)}")
        if problem.id in seen:
            raise UserError(f"{where}: id `{problem.id}` already used on line {seen[problem.id]}")
        seen[problem.id] = number
        problems.append(problem)
    return problems


def row_to_problem(
    row: Record, settings: UserFileOptions, where: str, *, default_id: str
) -> Problem:
    """One row as a Problem, its fields found where `settings` say."""
    fields = _field_names(settings)
    question = _required(row, settings.question_field, where)
    answer_type = settings.answer_type or row.get("answer_type") or None
    if answer_type not in (None, "number", "yesno", "text"):
        raise UserError(f"{where}: field `answer_type` must be number, yesno or text")
    if settings.unlabelled:
        answer, answer_type = "", answer_type or "text"
    else:
        answer, answer_type = normalize_answer(
            _required(row, settings.answer_field, where), answer_type
        )
    row_id = row.get(settings.id_field)
    extras = {key: value for key, value in row.items() if key not in fields}
    meta = row.get("meta")
    if meta is not None and not isinstance(meta, dict):  # e.g. a CSV column called `meta`
        extras["meta"], meta = meta, None
    try:
        return Problem(
            id=str(row_id) if row_id not in (None, "") else default_id,
            question=str(question),
            answer=answer,
            answer_type=answer_type,
            context=_optional(row, settings, "context_field", where),
            gold_steps=_steps(_optional(row, settings, "steps_field", where), where),
            gold_cot=_optional(row, settings, "cot_field", where),
            meta={**extras, **(meta or {})},
        )
    except ValidationError as error:
        raise UserError(f"{where}: field {describe_validation(error)}") from None


def _field_names(settings: UserFileOptions) -> set[str]:
    """Every column that maps onto a Problem field; the rest go to `meta`."""
    optional = {getattr(settings, key) or name for key, name in _DEFAULT_OPTIONAL.items()}
    named = {settings.question_field, settings.answer_field, settings.id_field}
    return named | optional | {"answer_type", "meta"}


def _required(row: Record, field: str, where: str) -> Any:
    value = row.get(field)
    if value is None:
        raise UserError(f"{where}: missing field `{field}`")
    if isinstance(value, str) and not value.strip():
        raise UserError(f"{where}: empty field `{field}`")
    return value


def _optional(row: Record, settings: UserFileOptions, option: str, where: str) -> Any:
    # A column named by the user must be there; our default name may be absent.
    field = getattr(settings, option)
    if field is not None and field not in row:
        raise UserError(f"{where}: missing field `{field}` (from option `{option}`)")
    value = row.get(field or _DEFAULT_OPTIONAL[option])
    return None if value == "" else value


def _steps(value: Any, where: str) -> list[Step] | None:
    """Steps given as a list, or (in CSV) as its JSON text; step answers are normalised."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise UserError(f"{where}: steps are not valid JSON ({error.msg})") from None
    if not isinstance(value, list):
        raise UserError(f"{where}: steps must be a list of {{subquestion, solution, answer}}")
    steps = []
    for index, item in enumerate(value):
        if isinstance(item, dict) and item.get("answer") is not None:
            item = {**item, "answer": normalize_answer(item["answer"])[0]}  # `24` -> "24"
        try:
            step = Step.model_validate(item)
        except ValidationError as error:
            raise UserError(f"{where}: step {index + 1}, field {describe_validation(error)}") from None
        steps.append(step)
    return steps
