"""StrategyQA (Geva et al., 2021): yes/no questions that need implicit multi-step reasoning.

Read from `DATA_DIR/strategyqa/{train,dev}.json` (2,061 / 229; the official test set has no
public labels). The human-written decomposition becomes `gold_steps`: subquestions only, since
StrategyQA has no sub-answers; their `#1`, `#2` references to earlier answers are kept as
written. The facts become `context`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from socratic_distill.data.registry import DATA_DIR_ENV, register_dataset, require_file
from socratic_distill.errors import UserError
from socratic_distill.schemas import Problem, Step


@register_dataset(
    "strategyqa",
    ("train", "dev"),
    "dev",
    "StrategyQA yes/no questions with facts and decompositions (2,061 train / 229 dev)",
)
def load_strategyqa(
    split: str, *, data_dir: Path | None, limit: int | None, options: dict
) -> list[Problem]:
    """Load a StrategyQA split from the original JSON file."""
    if options:
        raise UserError(f"strategyqa takes no dataset options, got: {', '.join(sorted(options))}")
    if data_dir is None:
        raise UserError(
            f"strategyqa: needs the original files; pass --data-dir DIR or set ${DATA_DIR_ENV}"
            f" to a folder holding strategyqa/{split}.json"
        )
    path = require_file(data_dir / "strategyqa" / f"{split}.json", "strategyqa")
    items = json.loads(path.read_text(encoding="utf-8"))
    return [_problem(item, f"{path}: question {index + 1}") for index, item in enumerate(items)]


def _problem(item: dict[str, Any], where: str) -> Problem:
    missing = [key for key in ("qid", "question", "answer") if key not in item]
    if missing:
        raise UserError(f"{where}: missing field `{missing[0]}`")
    if not isinstance(item["answer"], bool):
        raise UserError(f"{where}: field `answer` must be true or false")
    return Problem(
        id=item["qid"],
        question=item["question"].strip(),
        answer="yes" if item["answer"] else "no",
        answer_type="yesno",
        context=" ".join(fact.strip() for fact in item.get("facts", [])) or None,
        gold_steps=[
            Step(subquestion=sub.strip(), solution="") for sub in item.get("decomposition", [])
        ],
        meta={"term": item.get("term"), "description": item.get("description")},
    )
