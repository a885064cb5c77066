"""bench/device/prepare.sh and gsm8k_paper.sh at tiny size: the GGUF cut into parts here and
joined over several 'calls' there, and the whole experiment (SMOKE=1: scratch:tiny, four test
problems) run from the stashed data into $OUT. Each call runs in a copy of the scripts, so the
checkout's own .device/ and .git/info/exclude are left alone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("answer", "cot", "unified", "socratic")


@pytest.fixture
def device_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / ".git" / "info").mkdir(parents=True)
    shutil.copytree(ROOT / "bench" / "device", repo / "bench" / "device")
    shutil.copytree(ROOT / "configs" / "device", repo / "configs" / "device")
    return repo


def script(repo: Path, name: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHON": sys.executable, "NO_INSTALL": "1", **env}
    return subprocess.run(["bash", f"bench/device/{name}", *args], cwd=repo, env=environment,
                          capture_output=True, text=True, timeout=600)


def carry(repo: Path, prepared: Path, *names: str) -> None:
    """What one device call's `carry` puts into the tree: these paths of .device/ alone."""
    shutil.rmtree(repo / ".device", ignore_errors=True)
    (repo / ".device").mkdir()
    for name in names:
        source = prepared / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, repo / ".device" / name)


def test_prepare_names_a_missing_data_folder(device_repo: Path, tmp_path: Path) -> None:
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(os.urandom(1000))
    done = script(device_repo, "prepare.sh", GGUF=str(gguf), NO_WHEELS="1", DATA_DIR=str(tmp_path))
    assert done.returncode == 2
    assert f"{tmp_path}/gsm8k/train.jsonl missing" in done.stderr


@pytest.mark.slow
def test_parts_over_several_calls_then_the_smoke_run(device_repo: Path, tmp_path: Path,
                                                     shared_data: Path) -> None:
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(os.urandom(2_500_000))
    prepared = script(device_repo, "prepare.sh", GGUF=str(gguf), PART_MB="1", NO_WHEELS="1",
                      DATA_DIR=str(shared_data))
    assert prepared.returncode == 0, prepared.stderr
    parts = sorted(p.name for p in (device_repo / ".device").glob("smollm2.gguf.part-*"))
    assert parts == ["smollm2.gguf.part-00", "smollm2.gguf.part-01", "smollm2.gguf.part-02"]
    assert "/.device/" in (device_repo / ".git" / "info" / "exclude").read_text().split()
    shutil.move(device_repo / ".device", tmp_path / "prepared")
    prepared_dir = tmp_path / "prepared"
    env = {"STASH": str(tmp_path / "stash"), "OUT": str(tmp_path / "out"), "SMOKE": "1"}

    carry(device_repo, prepared_dir, parts[0], "data")
    assert script(device_repo, "gsm8k_paper.sh", "stash", **env).returncode == 0
    carry(device_repo, prepared_dir, parts[1], "smollm2.gguf.sha256")
    early = script(device_repo, "gsm8k_paper.sh", "run", **env)
    assert early.returncode == 2
    assert "parts stashed so far (2) do not make the file" in early.stderr

    carry(device_repo, prepared_dir, parts[2])
    done = script(device_repo, "gsm8k_paper.sh", "run", **env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (tmp_path / "stash" / "smollm2.gguf").read_bytes() == gguf.read_bytes()
    out = tmp_path / "out"
    for method in METHODS:
        rows = [json.loads(line) for line in (out / f"{method}.jsonl").read_text().splitlines()]
        assert [row["id"] for row in rows] == [f"gsm8k-test-{i}" for i in range(4)]
    report = (out / "report.md").read_text()
    assert all(f"| {method} " in report for method in METHODS)
