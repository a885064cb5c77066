"""GSM8K (Cobbe et al., 2021): the main and Socratic versions merged into one `Problem` each.

The main version gives `gold_cot` (the human solution, calculator annotations `<<a*b=c>>` kept);
the Socratic version, whose lines read `subquestion ** solution`, gives `gold_steps`. Both come
from local files (`DATA_DIR/gsm8k/{split}.jsonl` and `{split}_socratic.jsonl`) or, without a
data directory, from the Hugging Face hub; either way the rows go through the same parser.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from socratic_distill.data.registry import DATA_DIR_ENV, register_dataset, require_file
from socratic_distill.errors import UserError
from socratic_distill.eval.answers import solution_result
from socratic_distill.jsonl import iter_numbered
from socratic_distill.schemas import Problem, Step

HUB_ID = "openai/gsm8k"
VERSIONS = ("main", "socratic")

# A number as written in a solution: `1,200`, `0.5`, `-9`; a minus glued to a digit before it
# (`40-10`) is an operator, not a sign.
_NUMBER_RE = re.compile(r"(?:(?<![\d)])-)?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")

Row = tuple[str, dict[str, Any]]  # (where the row came from, for errors; the row itself)


@register_dataset(
    "gsm8k",
    ("train", "test"),
    "test",
    "GSM8K grade-school maths (7,473 train / 1,319 test) with OpenAI's Socratic subquestions",
)
def load_gsm8k(
    split: str, *, data_dir: Path | None, limit: int | None, options: dict
) -> list[Problem]:
    """Load a GSM8K split; `data_dir=None` reads the hub copy instead of local files."""
    if options:
        raise UserError(f"gsm8k takes no dataset options, got: {', '.join(sorted(options))}")
    if data_dir is None:
        main, socratic = (_hub_rows(split, version, limit) for version in VERSIONS)
        source = f"hf:{HUB_ID}"
    else:
        main, socratic = (_local_rows(data_dir, split, version, limit) for version in VERSIONS)
        source = f"gsm8k/{split}.jsonl"
    return parse_rows(split, main, socratic, source=source)


def _local_rows(data_dir: Path, split: str, version: str, limit: int | None) -> list[Row]:
    name = f"{split}.jsonl" if version == "main" else f"{split}_socratic.jsonl"
    path = require_file(data_dir / "gsm8k" / name, "gsm8k")
    rows: list[Row] = []
    for number, row in iter_numbered(path):
        if limit is not None and len(rows) >= limit:
            break
        rows.append((f"{path}:{number}", row))
    return rows


def _hub_rows(split: str, version: str, limit: int | None) -> list[Row]:
    try:
        import datasets  # heavy; only this path needs it

        table = datasets.load_dataset(HUB_ID, version, split=split)
    except Exception as error:  # offline, no `datasets`, hub down: all mean "use local files"
        reason = (str(error).strip().splitlines() or [""])[0][:200]
        raise UserError(
            f"gsm8k: the Hugging Face hub could not be reached ({type(error).__name__}: {reason});"
            f" pass --data-dir DIR or set ${DATA_DIR_ENV} to a folder holding"
            f" gsm8k/{split}.jsonl and gsm8k/{split}_socratic.jsonl"
        ) from error
    if limit is not None:
        table = table.select(range(min(limit, len(table))))
    return [
        (f"{HUB_ID}[{version}/{split}] row {index + 1}", row) for index, row in enumerate(table)
    ]


def parse_rows(split: str, main: list[Row], socratic: list[Row], *, source: str) -> list[Problem]:
    """Merge the main and Socratic rows, which must list the same questions in the same order."""
    if len(main) != len(socratic):
        raise UserError(
            f"gsm8k: {len(main)} rows in the main version but {len(socratic)} in the Socratic one"
            f" (last rows: {main[-1][0] if main else '-'}, {socratic[-1][0] if socratic else '-'})"
        )
    return [
        _problem(f"gsm8k-{split}-{index}", main_row, socratic_row, source)
        for index, (main_row, socratic_row) in enumerate(zip(main, socratic, strict=True))
    ]


def _problem(problem_id: str, main: Row, socratic: Row, source: str) -> Problem:
    (main_where, main_row), (socratic_where, socratic_row) = main, socratic
    question = _field(main_row, "question", main_where).strip()
    if _field(socratic_row, "question", socratic_where).strip() != question:
        raise UserError(
            f"{socratic_where}: question differs from {main_where}; the main and Socratic files"
            " must hold the same problems in the same order"
        )
    cot_lines, answer = split_solution(_field(main_row, "answer", main_where), main_where)
    step_lines, socratic_answer = split_solution(
        _field(socratic_row, "answer", socratic_where), socratic_where
    )
    if socratic_answer != answer:
        raise UserError(
            f"{socratic_where}: final answer {socratic_answer!r} != {answer!r} in {main_where}"
        )
    steps = [step for line in step_lines if (step := parse_step(line, socratic_where))]
    return Problem(
        id=problem_id,
        question=question,
        answer=answer,
        answer_type="number",
        gold_cot="\n".join(cot_lines),
        gold_steps=steps,
        meta={"source": source},
    )


def _field(row: dict[str, Any], name: str, where: str) -> str:
    value = row.get(name)
    if not isinstance(value, str):
        raise UserError(f"{where}: missing field `{name}`")
    return value


def split_solution(solution: str, where: str) -> tuple[list[str], str]:
    """The non-blank solution lines before the final `#### n` line, and n."""
    body, marker, final = solution.rpartition("####")
    if not marker:
        raise UserError(f"{where}: the solution has no final `#### n` line")
    # A few solutions hold blank lines; they carry nothing, so they are dropped.
    lines = [line.rstrip() for line in body.splitlines() if line.strip()]
    return lines, final.strip()


def parse_step(line: str, where: str) -> Step | None:
    """One Socratic line `subquestion ** solution` as a Step; None for an empty solution.

    Six Socratic solutions hold a `subquestion ** ` line with nothing after it, where the main
    version has a blank line; such a step teaches nothing and is skipped.
    """
    subquestion, marker, solution = line.partition(" **")
    if not marker:
        raise UserError(f"{where}: Socratic step without ` ** `: {line[:80]!r}")
    if not solution.strip():
        return None
    return Step(
        subquestion=subquestion.strip(), solution=solution.strip(), answer=solution_result(solution)
    )


