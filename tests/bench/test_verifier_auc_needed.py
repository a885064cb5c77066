"""bench/verifier_auc_needed.py: best of N climbs from a blind pick to pass@N as the drawn
scores' within-problem AUC rises, over the very samples majority vote reads; bad input is one
line with exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from socratic_distill.data.registry import load_problems
from socratic_distill.jsonl import write_jsonl
from socratic_distill.schemas import Prediction

ROOT = Path(__file__).resolve().parents[2]


def needed(predictions: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "verifier_auc_needed.py"), str(predictions),
         "-d", "synthetic:test", "--limit", "40", "--repeats", "5"],
        capture_output=True, text=True, timeout=120,
    )


def test_best_of_n_reaches_pass_at_n_only_with_a_near_perfect_ranking(tmp_path):
    problems = load_problems("synthetic:test", limit=40)
    # Every problem: one right sample among eight, the wrong ones agreeing on one answer, so
    # majority is always wrong and pass@8 always right.
    samples = [Prediction(id=p.id, samples=[p.answer] + [str(int(p.answer) + 1)] * 7) for p in problems]
    write_jsonl(tmp_path / "samples.jsonl", samples)
    result = needed(tmp_path / "samples.jsonl")
    assert result.returncode == 0, result.stderr
    assert "40 problems; majority 0.0%, pass@N 100.0%" in result.stdout
    rows = {float(line.split("|")[1]): float(line.split("|")[2].strip(" %"))
            for line in result.stdout.splitlines() if line.startswith("| 0.")}
    assert rows[0.5] < 40  # a blind pick is right one time in eight
    assert rows[0.99] > 90
    accuracies = [rows[auc] for auc in sorted(rows)]
    assert accuracies[-1] > accuracies[len(accuracies) // 2] > accuracies[0]


def test_a_file_without_samples_is_a_one_line_error(tmp_path):
    write_jsonl(tmp_path / "greedy.jsonl", [Prediction(id="synthetic-test-0", answer="3")])
    result = needed(tmp_path / "greedy.jsonl")
    assert result.returncode == 2
    expected = f"error: {tmp_path / 'greedy.jsonl'}: no predictions with samples"
    assert result.stderr.strip().splitlines() == [expected]
