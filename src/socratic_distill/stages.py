"""Resumable stages inside a run directory.

A stage is a named piece of work with a fingerprint: the hash of its settings and of the
fingerprints of the stages it reads from. It writes into `RUN/NAME/`; when it finishes,
`RUN/NAME/stage.json` records the fingerprint, last. On a rerun a stage whose `stage.json`
holds the same fingerprint is skipped; a changed setting changes its fingerprint and those of
every stage downstream, so exactly what depends on the change runs again. A stage that was
interrupted has no `stage.json` and runs again. `RUN/.attempts/NAME.json` records the
fingerprint of the attempt that last started in `RUN/NAME/` (outside it, so that a stage's
directory holds only its own work): a training stage resumes from its checkpoints only when
they belong to an attempt with the same fingerprint, and otherwise starts afresh (its
`restart`); other stages keep what their directory holds (the teacher's cache, for one).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socratic_distill.errors import UserError
from socratic_distill.jsonl import atomic_writer

log = logging.getLogger(__name__)
RECORD = "stage.json"
ATTEMPTS = ".attempts"


@dataclass
class Stage:
    name: str
    settings: dict[str, Any]
    action: Callable[[Path], dict[str, Any] | None]  # gets its directory, returns a summary
    needs: list[str] = field(default_factory=list)
    # Clears what an attempt with other settings left in the directory (None: keep it all).
    restart: Callable[[Path], None] | None = None


def fingerprint(settings: dict[str, Any], upstream: list[str]) -> str:
    material = json.dumps({"settings": settings, "upstream": upstream}, sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def read_record(directory: Path, name: str = RECORD) -> dict[str, Any] | None:
    """The JSON record `directory/name`; None when missing or torn."""
    path = directory / name
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # a torn record means an unfinished stage


def plan(stages: list[Stage], run_dir: Path) -> list[tuple[Stage, str, bool]]:
    """Each stage with its fingerprint and whether it is already complete."""
    prints: dict[str, str] = {}
    planned = []
    for stage in stages:
        missing = [name for name in stage.needs if name not in prints]
        if missing:
            raise UserError(f"stage `{stage.name}` needs `{missing[0]}`, which is not planned")
        prints[stage.name] = fingerprint(stage.settings, [prints[n] for n in stage.needs])
        record = read_record(run_dir / stage.name)
        done = record is not None and record.get("fingerprint") == prints[stage.name]
        planned.append((stage, prints[stage.name], done))
    return planned


def run_stages(
    stages: list[Stage], run_dir: Path, only: str | None = None, dry_run: bool = False
) -> dict[str, dict[str, Any]]:
    """Run what is not complete yet; return every stage's record."""
    run_dir.mkdir(parents=True, exist_ok=True)
    planned = plan(stages, run_dir)
    if only is not None and only not in {stage.name for stage in stages}:
        names = ", ".join(stage.name for stage in stages)
        raise UserError(f"--only: no stage `{only}`; stages: {names}")
    records: dict[str, dict[str, Any]] = {}
    for stage, stage_print, done in planned:
        directory = run_dir / stage.name
        skip = done or (only is not None and stage.name != only)
        if dry_run or skip:
            state = "done" if done else ("skip" if skip else "run")
            log.info("%-28s %s %s", stage.name, stage_print, state)
            records[stage.name] = read_record(directory) or {}
            continue
        for need in stage.needs:
            if not records.get(need, {}).get("fingerprint"):
                raise UserError(f"stage `{stage.name}` needs `{need}`, which is not complete")
        log.info("── %s", stage.name)
        _begin_attempt(stage, stage_print, directory)
        start = time.time()
        summary = stage.action(directory) or {}
        record = {"fingerprint": stage_print, "seconds": round(time.time() - start, 2),
                  "settings": stage.settings, "summary": summary}
        with atomic_writer(directory / RECORD) as handle:
            json.dump(record, handle, indent=2, default=str)
        records[stage.name] = record
    return records


def clear_directory(directory: Path) -> None:
    """A `restart`: remove everything in `directory`."""
    for path in directory.iterdir():
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def _begin_attempt(stage: Stage, stage_print: str, directory: Path) -> None:
    """Mark `directory` as holding an unfinished attempt at `stage_print`, after clearing what
    an attempt at other settings left there (for stages that have a `restart`)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / RECORD).unlink(missing_ok=True)
    attempts = directory.parent / ATTEMPTS
    previous = (read_record(attempts, f"{stage.name}.json") or {}).get("fingerprint")
    if stage.restart is not None and previous != stage_print and any(directory.iterdir()):
        log.info("%s: left by an attempt with other settings; starting afresh", directory)
        stage.restart(directory)
    attempts.mkdir(exist_ok=True)
    with atomic_writer(attempts / f"{stage.name}.json") as handle:
        json.dump({"fingerprint": stage_print, "started": time.time()}, handle)
