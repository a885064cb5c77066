"""Where wrong answers first go wrong, by step: for each gold depth, how many predictions first
went wrong at step 1, 2, ... and how (the report's categories, `eval/diagnosis.py`).

    .venv/bin/python bench/first_wrong_step.py bench/results/quickstart/socratic-test-hard.jsonl \
        -d synthetic:test-hard --limit 200 -o min_steps=1 -o max_steps=3 -o hard_min_steps=4 \
        -o hard_max_steps=5 -o max_number=20 -o distractors=0

The report shows the categories; this shows the step too, which tells a decomposer that loses
its way at the first subquestion of a long problem from one that loses it late.
"""

from __future__ import annotations

import argparse
from collections import Counter

from socratic_distill.data.registry import load_problems
from socratic_distill.eval.diagnosis import locate_first_error
from socratic_distill.eval.evaluate import evaluate_predictions, gold_step_count
from socratic_distill.jsonl import read_jsonl
from socratic_distill.schemas import Prediction


def first_wrong_steps(problems, predictions) -> dict[int, Counter]:
    """Per gold depth: a Counter of `category@step` (1-based) over the wrong predictions, with
    `right` for the right ones, judged as `evaluate` judges them."""
    result = evaluate_predictions(problems, predictions)
    by_problem = {problem.id: problem for problem in problems}
    by_prediction = {prediction.id: prediction for prediction in predictions}
    table: dict[int, Counter] = {}
    for item in result.items:
        counts = table.setdefault(item.num_steps or 0, Counter())
        if item.correct:
            counts["right"] += 1
            continue
        located = locate_first_error(by_problem[item.id], by_prediction[item.id])
        counts[f"{located[0]}@{located[1] + 1}" if located else "unclassified"] += 1
    for problem_id in result.missing_ids:
        table.setdefault(gold_step_count(by_problem[problem_id]) or 0, Counter())["missing"] += 1
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions")
    parser.add_argument("-d", "--dataset", required=True)
    parser.add_argument("--limit", type=int)
    parser.add_argument("-o", "--option", action="append", default=[], help="KEY=VALUE")
    args = parser.parse_args()
    options = dict(option.split("=", 1) for option in args.option)
    problems = load_problems(args.dataset, limit=args.limit, options=options)
    table = first_wrong_steps(problems, read_jsonl(args.predictions, Prediction))
    for depth, counts in sorted(table.items()):
        total = sum(counts.values())
        cells = ", ".join(f"{key} {n}" for key, n in counts.most_common())
        print(f"{depth} steps ({total} problems): {cells}")


if __name__ == "__main__":
    main()
