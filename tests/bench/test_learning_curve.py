"""bench/learning_curve.py on a scratch:tiny student: one point per checkpoint and the final
student, each with its own predictions, and a rerun that solves nothing again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from socratic_distill.train import TrainConfig, train_student

ROOT = Path(__file__).resolve().parents[2]


def curve(student: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "learning_curve.py"), str(student), "--method", "socratic",
         "-d", "synthetic:test", "--limit", "6", "--batch-size", "6", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )


def test_one_point_per_checkpoint_and_a_rerun_solves_nothing(tmp_path):
    export = tmp_path / "train.jsonl"
    subprocess.run([sys.executable, "-m", "socratic_distill", "data", "export", "synthetic:train",
                    "--limit", "64", "--out", str(export)], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "socratic_distill", "build", "--annotations", str(export),
                    "--out", str(tmp_path / "sets")], check=True, capture_output=True)
    config = TrainConfig(max_steps=20, save_steps=10, save_total_limit=None, batch_size=8,
                         validation_fraction=0)
    student = train_student("unified", tmp_path / "sets", "scratch:tiny", tmp_path / "unified", config)

    result = curve(student, tmp_path / "curve")
    assert result.returncode == 0, result.stderr
    points = json.loads((tmp_path / "curve" / "curve.json").read_text())
    assert [p["step"] for p in points] == [10, 20]
    assert points[0]["student"].endswith("checkpoint-10") and points[1]["student"] == str(student)
    assert points[0]["tokens"] < points[1]["tokens"]
    for point in points:
        assert point["total"] == 6 and 0 <= point["ci_low"] <= point["accuracy"] <= point["ci_high"]
        lines = (tmp_path / "curve" / point["predictions"]).read_text().splitlines()
        assert len(lines) == 6 and all("steps" in json.loads(line) for line in lines)
    assert (tmp_path / "curve" / "curve.png").stat().st_size > 1000
    assert "| 10 |" in result.stdout and "| 20 |" in result.stdout

    files = [tmp_path / "curve" / point["predictions"] for point in points]
    solved = [path.stat().st_mtime_ns for path in files]
    assert curve(student, tmp_path / "curve").returncode == 0
    assert [path.stat().st_mtime_ns for path in files] == solved
