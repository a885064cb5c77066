"""The dataset registry: `NAME[:SPLIT]` -> a list of `Problem`.

Each loader module registers itself with `@register_dataset`. A loader receives the split, the
local data directory (or None: then it tries the Hugging Face hub) and dataset options, and
returns problems in the split's fixed order; `load_problems` applies `--limit`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from socratic_distill.errors import UserError, did_you_mean
from socratic_distill.schemas import Problem

Loader = Callable[..., list[Problem]]
DATA_DIR_ENV = "SOCRATIC_DATA_DIR"


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    splits: tuple[str, ...]
    default_split: str
    loader: Loader
    description: str
    free_split: bool = False  # jsonl/csv: the "split" is a file path


DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(
    name: str, splits: tuple[str, ...], default_split: str, description: str, free_split=False
) -> Callable[[Loader], Loader]:
    def decorate(loader: Loader) -> Loader:
        DATASETS[name] = DatasetSpec(name, splits, default_split, loader, description, free_split)
        return loader

    return decorate


def _ensure_registered() -> None:
    # Importing the loader modules fills the registry; done lazily to keep `--help` fast.
    from socratic_distill.data import gsm8k, strategyqa, svamp, synthetic, userfile  # noqa: F401


def parse_spec(spec: str) -> tuple[DatasetSpec, str]:
    """Split `NAME[:SPLIT]` and check both against the registry."""
    _ensure_registered()
    name, _, split = spec.partition(":")
    name = name.strip().lower()
    if name not in DATASETS:
        known = ", ".join(sorted(DATASETS))
        raise UserError(
            f"unknown dataset `{name}`{did_you_mean(name, list(DATASETS))}; known: {known}"
        )
    dataset = DATASETS[name]
    if dataset.free_split:
        if not split:
            raise UserError(f"dataset `{name}` needs a file: `{name}:PATH`")
        return dataset, split
    split = split or dataset.default_split
    if split not in dataset.splits:
        raise UserError(
            f"dataset `{name}` has no split `{split}`{did_you_mean(split, list(dataset.splits))};"
            f" splits: {', '.join(dataset.splits)}"
        )
    return dataset, split


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    """The local directory of original files: the argument, else $SOCRATIC_DATA_DIR, else None."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV)
    if not chosen:
        return None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        where = "--data-dir" if data_dir else f"${DATA_DIR_ENV}"
        raise UserError(f"data directory {path} ({where}) does not exist: point it at the folder "
                        "that holds the original files (gsm8k/, svamp/, strategyqa/)")
    return path


def load_problems(
    spec: str,
    *,
    limit: int | None = None,
    data_dir: str | Path | None = None,
    options: dict[str, Any] | None = None,
) -> list[Problem]:
    """Load the problems of `NAME[:SPLIT]`, the first `limit` of them in the split's order."""
    if limit is not None and limit < 0:
        raise UserError(f"--limit must be >= 0, got {limit}")
    dataset, split = parse_spec(spec)
    problems = dataset.loader(
        split, data_dir=resolve_data_dir(data_dir), limit=limit, options=dict(options or {})
    )
    return problems[:limit] if limit is not None else problems


def require_file(path: Path, dataset: str) -> Path:
    """A data file that must exist, with a message that says where it was looked for."""
    if not path.is_file():
        raise UserError(f"{dataset}: missing file {path} (check --data-dir / ${DATA_DIR_ENV})")
    return path
