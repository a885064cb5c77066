"""JSONL reading and writing: every line validated, every write atomic.

A malformed line raises `UserError("FILE:LINE: reason")`. Writers go through a temporary file
beside the target and rename it into place, so a crash never leaves a half-written file that
looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ValidationError

from socratic_distill.errors import UserError, describe_validation

T = TypeVar("T", bound=BaseModel)


def iter_numbered(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, JSON object) for each non-blank line; a bad line names FILE:LINE."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    with path.open(encoding="utf-8-sig") as handle:  # -sig: tolerate a byte-order mark
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise UserError(f"{path}:{number}: invalid JSON ({error.msg})") from None
            if not isinstance(record, dict):
                kind = type(record).__name__
                raise UserError(f"{path}:{number}: expected a JSON object, got {kind}")
            yield number, record


def iter_jsonl(path: str | Path, model: type[T] | None = None) -> Iterator[T | dict[str, Any]]:
    """Yield one record per non-blank line, validated against `model` when given."""
    for number, record in iter_numbered(path):
        if model is None:
            yield record
            continue
        try:
            yield model.model_validate(record)
        except ValidationError as error:
            raise UserError(f"{path}:{number}: field {describe_validation(error)}") from None


def read_jsonl(path: str | Path, model: type[T] | None = None) -> list[T | dict[str, Any]]:
    return list(iter_jsonl(path, model))


def _dumps(record: BaseModel | dict[str, Any]) -> str:
    if isinstance(record, BaseModel):
        return record.model_dump_json(exclude_none=True)
    return json.dumps(record, ensure_ascii=False)


@contextmanager
def atomic_writer(path: str | Path, mode: str = "w") -> Iterator[IO[str]]:
    """Open a temporary file beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: str | Path, records: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Write all records atomically; return how many were written."""
    count = 0
    with atomic_writer(path) as handle:
        for record in records:
            handle.write(_dumps(record) + "\n")
            count += 1
    return count


def append_jsonl(path: str | Path, record: BaseModel | dict[str, Any]) -> None:
    """Append one record and flush it, for append-only resumable outputs."""
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(_dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def drop_torn_tail(path: str | Path) -> int:
    """Cut a partial last line (a crash mid-write) off an appended JSONL file; bytes dropped."""
    path = Path(path)
    if not path.is_file():
        return 0
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        # Walk back by chunks to the last newline, so a large file is not read whole.
        position = size
        while position > 0:
            step = min(65536, position)
            handle.seek(position - step)
            newline = handle.read(step).rfind(b"\n")
            position -= step
            if newline >= 0:
                position += newline + 1
                break
        handle.truncate(position)
    return size - position


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
