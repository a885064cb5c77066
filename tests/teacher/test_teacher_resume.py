"""Kill -9 at any moment, run the same command again: every (id, sample) exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from socratic_distill.jsonl import write_jsonl
from socratic_distill.teacher import annotate, make_config
from socratic_distill.teacher.store import AnnotationStore

RUNNER = Path(__file__).with_name("run_annotate.py")


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _pairs(path: Path) -> Counter:
    return Counter((json.loads(line)["id"], json.loads(line)["sample"])
                   for line in path.read_text().splitlines())


@pytest.mark.slow
def test_kill_9_then_rerun_gives_every_pair_exactly_once(server, tmp_path, monkeypatch):
    from teacher_helpers import sum_problem

    problems = [sum_problem(index) for index in range(100)]
    problems_path, out = tmp_path / "problems.jsonl", tmp_path / "out.jsonl"
    write_jsonl(problems_path, problems)
    concurrency, samples = 8, 2
    config = json.dumps({"teacher": "openai:m", "base_url": server.base_url,
                         "concurrency": concurrency, "samples": samples,
                         "cache": str(tmp_path / "cache.sqlite")})
    command = [sys.executable, str(RUNNER), str(problems_path), config, str(out)]
    env = {**os.environ, "OPENAI_API_KEY": "sk-kill-test"}
    rng = random.Random(5)
    kills = 0
    for target in (15, 70, 130):  # kill after at least this many lines, at a random moment
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while _lines(out) < target and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.03))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=30)
    assert kills >= 2
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["complete"]
    pairs = _pairs(out)
    assert set(pairs) == {(p.id, s) for p in problems for s in range(samples)}
    assert set(pairs.values()) == {1}, "a pair was written twice"
    # Paid for at most once, except requests in flight at a kill (never answered to the client).
    assert server.counts["requests"] <= len(pairs) + kills * concurrency


def test_a_torn_last_line_is_dropped_and_done_again(problems, tmp_path):
    out = tmp_path / "out.jsonl"
    annotate(problems[:3], make_config(teacher="gold"), out, progress=False)
    whole = out.read_bytes()
    out.write_bytes(whole + b'{"id": "p3", "sample": 0, "teacher": "gold", "sty')
    summary = annotate(problems, make_config(teacher="gold"), out, progress=False)
    assert summary.resumed == 3 and summary.written == 3 and summary.complete
    assert set(_pairs(out).values()) == {1} and out.read_bytes().startswith(whole)


def test_a_torn_line_without_any_newline(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"id": "p0", "sam')
    store = AnnotationStore(out)
    assert store.open("gold", "socratic") == set()
    store.close()
    assert out.read_bytes() == b""


def test_a_corrupt_line_in_the_middle_is_an_error(problems, tmp_path):
    from socratic_distill.errors import UserError

    out = tmp_path / "out.jsonl"
    annotate(problems[:2], make_config(teacher="gold"), out, progress=False)
    lines = out.read_text().splitlines()
    out.write_text(lines[0] + "\n{not json}\n" + lines[1] + "\n")
    with pytest.raises(UserError, match=r"out.jsonl:2: not an annotation record"):
        annotate(problems, make_config(teacher="gold"), out, progress=False)
