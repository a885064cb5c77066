"""Accuracy against training: solve one split with every checkpoint of a trained student and
with the final student, then a table (markdown), `curve.json` and `curve.png`.

    .venv/bin/python bench/learning_curve.py RUN/train-unified --method socratic \
        -d gsm8k:test --limit 200 --data-dir ../shared/data --out bench/results/gsm8k-curve

Every full-weight checkpoint of `train` is a student (its own `student.json`), so this is a loop
over `solve` and `evaluate`. A method with two roles (socratic) uses the one student in both, as
`socratic_students: unified` does. Each checkpoint's predictions stay in OUT (`step-N.jsonl`),
and a rerun solves only what is missing. Checkpoints of one run share its learning-rate
schedule: an early one is not what a shorter run, annealed to the end, would give.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from socratic_distill.data.registry import load_problems
from socratic_distill.eval.evaluate import evaluate_predictions, load_predictions
from socratic_distill.infer.config import SolveConfig
from socratic_distill.infer.run import load_generators, solve_to_file
from socratic_distill.methods import ROLES
from socratic_distill.train.outdir import CHECKPOINTS, read_json


def students_by_step(student_dir: Path) -> list[tuple[int, Path]]:
    """(step, directory) of every checkpoint that is a student, and of the final student."""
    found = {}
    for checkpoint in (student_dir / CHECKPOINTS).glob("checkpoint-*"):
        metadata = read_json(checkpoint / "student.json")
        if metadata and "checkpoint" in metadata:
            found[metadata["checkpoint"]["global_step"]] = checkpoint
    final = read_json(student_dir / "student.json")
    if final:  # with validation the final weights are the best checkpoint's: label them so
        step = final["metrics"].get("best_step") or final["metrics"]["global_step"]
        found[step] = student_dir
    return sorted(found.items())


def curve_point(step: int, student: Path, problems, method: str, out: Path, batch_size: int) -> dict:
    predictions = out / f"step-{step}.jsonl"
    if not predictions.is_file():
        generators = load_generators(method, {role: student for role in ROLES[method]})
        solve_to_file(problems, predictions, generators, SolveConfig(method=method, batch_size=batch_size),
                      resume=True)
    result = evaluate_predictions(problems, load_predictions(predictions))
    metadata = read_json(student / "student.json") or {}
    tokens = (metadata.get("checkpoint") or metadata.get("metrics") or {}).get("tokens")
    return {"step": step, "tokens": tokens, "student": str(student), "correct": result.correct,
            "total": result.total, "accuracy": result.accuracy, "ci_low": result.ci_low,
            "ci_high": result.ci_high, "predictions": predictions.name}


def plot(points: list[dict], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [p["step"] for p in points]
    accuracy = [100 * p["accuracy"] for p in points]
    errors = [[100 * (p["accuracy"] - p["ci_low"]) for p in points],
              [100 * (p["ci_high"] - p["accuracy"]) for p in points]]
    figure, axes = plt.subplots(figsize=(5, 3.2))
    axes.errorbar(steps, accuracy, yerr=errors, marker="o", capsize=3)
    axes.set(xlabel="optimiser steps", ylabel="accuracy (%, 95% CI)", title=title)
    axes.set_ylim(bottom=0)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("student", type=Path, help="a `train` output directory")
    parser.add_argument("--method", required=True, choices=sorted(ROLES))
    parser.add_argument("-d", "--dataset", required=True)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--data-dir")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    problems = load_problems(args.dataset, limit=args.limit, data_dir=args.data_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    points = [curve_point(step, student, problems, args.method, args.out, args.batch_size)
              for step, student in students_by_step(args.student)]
    (args.out / "curve.json").write_text(json.dumps(points, indent=2) + "\n")
    plot(points, f"{args.method} on {args.dataset}" + (f" (first {args.limit})" if args.limit else ""),
         args.out / "curve.png")
    print("| step | tokens | accuracy (95% CI) |\n|---:|---:|---:|")
    for p in points:
        print(f"| {p['step']} | {p['tokens'] or ''} | {100 * p['accuracy']:.1f}% "
              f"({100 * p['ci_low']:.1f}-{100 * p['ci_high']:.1f}) |")


if __name__ == "__main__":
    main()
