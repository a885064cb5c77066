"""The append-only annotation output, resumable after a kill -9 at any moment.

Each record is one line, written with a single `write` and flushed before the next is taken
up, so after a crash the file holds whole lines plus, at worst, one torn last line. `open`
drops that torn tail (the pair is then simply done again, from the cache), reads the records
already there and returns the (id, sample) pairs they cover, so a rerun of the same command
adds only what is missing: every pair ends up exactly once. The file is fsynced every few
seconds and on close.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from pydantic import ValidationError

from socratic_distill.errors import UserError, describe_validation
from socratic_distill.jsonl import drop_torn_tail
from socratic_distill.schemas import Annotation

log = logging.getLogger(__name__)

FSYNC_EVERY = 5.0  # seconds


class AnnotationStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.records: list[Annotation] = []
        self._handle = None
        self._synced = time.monotonic()

    def open(self, teacher: str, style: str) -> set[tuple[str, int]]:
        """Read what is there (repairing a torn tail) and open for appending; return done pairs."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        done: set[tuple[str, int]] = set()
        if self.path.exists():
            dropped = drop_torn_tail(self.path)
            if dropped:
                log.warning("%s: dropped a partial last line (%d bytes) left by an interrupted run",
                            self.path, dropped)
            for record in self._read():
                if (record.teacher, record.style) != (teacher, style):
                    raise UserError(
                        f"{self.path}: holds annotations by teacher `{record.teacher}`, style "
                        f"{record.style}; this run is `{teacher}`, {style}: use another output"
                    )
                key = (record.id, record.sample)
                if key in done:
                    log.warning("%s: duplicate id %s sample %d ignored", self.path, *key)
                    continue
                done.add(key)
                self.records.append(record)
        self._handle = self.path.open("a", encoding="utf-8")
        return done

    def _read(self) -> list[Annotation]:
        records = []
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(Annotation.model_validate_json(line))
                except ValidationError as error:
                    raise UserError(
                        f"{self.path}:{number}: not an annotation record ({describe_validation(error)}); "
                        "this file was not written by `annotate`: use another output"
                    ) from None
        return records

    def append(self, record: Annotation) -> None:
        line = record.model_dump_json() + "\n"
        self._handle.write(line)
        self._handle.flush()
        self.records.append(record)
        if time.monotonic() - self._synced > FSYNC_EVERY:
            os.fsync(self._handle.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None
