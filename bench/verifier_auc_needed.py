"""How good a verifier has to be: best-of-N accuracy over kept samples against the verifier's
within-problem AUC, with scores drawn at that AUC instead of a real verifier's.

    python bench/verifier_auc_needed.py \
        bench/results/quickstart-verifier/socratic+verifier-stop37-unseen-whole-test.jsonl \
        -d synthetic:test --limit 500 -o min_steps=1 -o max_steps=3 -o hard_min_steps=4 \
        -o hard_max_steps=5 -o max_number=20 -o distractors=0

Each sample's answer is judged as `evaluate` judges it; a right sample's score is drawn from
N(d, 1) and a wrong one's from N(0, 1), so that a right sample outscores a wrong one with
probability AUC = Phi(d / sqrt 2), the within-problem AUC that `evaluate` reports for real
verifiers. Majority vote and pass@N use the same samples, so the table says which AUC closes
half of the gap between them on these students' own samples.
"""

from __future__ import annotations

import argparse
import random
import sys
from statistics import NormalDist, median

from socratic_distill.cli import load_dataset_arg
from socratic_distill.errors import UserError
from socratic_distill.eval.evaluate import evaluate_predictions, judge_samples, load_predictions

AUCS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def judged_samples(problems, predictions) -> list[list[bool]]:
    """Per problem with samples: which of its samples are right."""
    by_id = {problem.id: problem for problem in problems}
    return [judge_samples(by_id[prediction.id], prediction)[1] for prediction in predictions
            if prediction.id in by_id and prediction.samples]


def best_of_n(judged, auc: float, total: int, rng: random.Random) -> float:
    """Accuracy over `total` problems when each picks its best-scored sample at this AUC."""
    shift = 2 ** 0.5 * NormalDist().inv_cdf(auc) if auc > 0.5 else 0.0
    hits = 0
    for right in judged:
        scores = [rng.gauss(shift if ok else 0.0, 1.0) for ok in right]
        hits += right[max(range(len(right)), key=scores.__getitem__)]
    return hits / total


def table(judged, total: int, repeats: int, seed: int) -> list[tuple[float, float]]:
    """(AUC, median best-of-N accuracy over `repeats` draws) for each of AUCS."""
    rng = random.Random(seed)
    return [(auc, median(best_of_n(judged, auc, total, rng) for _ in range(repeats))) for auc in AUCS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", help="from solve --samples N (the samples' answers)")
    parser.add_argument("-d", "--dataset", required=True, help="the problems the samples solve")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--data-dir")
    parser.add_argument("-o", "--dataset-option", action="append", metavar="KEY=VALUE")
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        problems = load_dataset_arg(args.dataset, args.limit, args.data_dir, args.dataset_option)
        predictions = load_predictions(args.predictions)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    sampled = evaluate_predictions(problems, predictions).sampled  # majority and pass@N, as evaluate
    if sampled is None:
        print(f"error: {args.predictions}: no predictions with samples", file=sys.stderr)
        sys.exit(2)
    judged, total = judged_samples(problems, predictions), len(problems)
    majority, passed = sampled.majority, sampled.any_correct
    print(f"{len(judged)} problems; majority {100 * majority:.1f}%, pass@N {100 * passed:.1f}%")
    print("| within-problem AUC | best of N | gap closed |\n|---:|---:|---:|")
    for auc, accuracy in table(judged, total, args.repeats, args.seed):
        closed = (accuracy - majority) / (passed - majority) if passed > majority else float("nan")
        print(f"| {auc:.2f} | {100 * accuracy:.1f}% | {100 * closed:.0f}% |")


if __name__ == "__main__":
    main()
