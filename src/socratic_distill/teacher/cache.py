"""A persistent SQLite cache of teacher completions, so that a rerun never pays twice.

The key is a SHA-256 of the teacher's identity (spec, API, sampling parameters), the rendered
prompt and the sample index; the endpoint URL and the API key are never part of it, so the
file holds nothing secret (completions, token counts, the teacher spec). Each put is committed
at once (WAL journal), so a completion paid for survives a kill -9 that follows it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from socratic_distill.errors import UserError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    teacher TEXT NOT NULL,
    text TEXT NOT NULL,
    usage TEXT,
    created REAL NOT NULL
)
"""


def cache_key(identity: dict[str, Any], prompt: Any, sample: int) -> str:
    """The key of one completion; `identity` must not hold secrets (it is hashed, not stored)."""
    material = json.dumps(
        {"identity": identity, "prompt": prompt, "sample": sample},
        sort_keys=True, ensure_ascii=False, default=list,
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class CompletionCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        except sqlite3.DatabaseError as error:
            raise UserError(f"{self.path}: not a usable cache database ({error}); "
                            "pass another `cache` path or delete the file") from None

    def get(self, key: str) -> tuple[str, dict[str, int] | None] | None:
        row = self._db.execute("SELECT text, usage FROM completions WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return row[0], (json.loads(row[1]) if row[1] else None)

    def put(self, key: str, teacher: str, text: str, usage: dict[str, int] | None) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO completions (key, teacher, text, usage, created)"
            " VALUES (?, ?, ?, ?, ?)",
            (key, teacher, text, json.dumps(usage) if usage else None, time.time()),
        )

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        self._db.close()
