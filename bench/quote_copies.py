"""How well a student trained on `quote_facts` copies the facts it quotes (issue 15).

For every step of every prediction whose subquestion quotes a fact (its first sentence, then the
question), it counts the quotes that are a sentence of the problem (copied verbatim) and those
that are the sentence the gold step at that position quotes (the right fact):

    python bench/quote_copies.py P-test.jsonl P-test-hard.jsonl -d synthetic:test synthetic:test-hard \
        --limit 200 -o min_steps=1 -o max_steps=3 -o hard_min_steps=4 -o hard_max_steps=5 \
        -o max_number=20 -o distractors=0 -o quote_facts=true

One `-d` per predictions file, or one for them all. Bad input is one line with exit 2.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from socratic_distill.cli import load_dataset_arg
from socratic_distill.data.synthetic import quoted_fact, sentences
from socratic_distill.errors import UserError
from socratic_distill.jsonl import read_jsonl
from socratic_distill.schemas import Prediction, Problem


@dataclass
class Copies:
    quotes: int = 0
    verbatim: int = 0  # a sentence of the problem
    right_fact: int = 0  # the one the gold step at that position quotes

    def row(self, name: str) -> str:
        share = (lambda n: f"{n / self.quotes:.1%}") if self.quotes else (lambda n: "-")
        return (f"| {name} | {self.quotes} | {self.verbatim} ({share(self.verbatim)}) | "
                f"{self.right_fact} ({share(self.right_fact)}) |")


def count_copies(problems: list[Problem], predictions: list[Prediction], source: str) -> Copies:
    by_id = {problem.id: problem for problem in problems}
    copies = Copies()
    for number, prediction in enumerate(predictions, start=1):
        problem = by_id.get(prediction.id)
        if problem is None:
            raise UserError(f"{source}:{number}: unknown problem `{prediction.id}` for this dataset")
        story = set(sentences(problem.question))
        gold = [quoted_fact(step.subquestion) for step in problem.gold_steps or []]
        for position, step in enumerate(prediction.steps or []):
            quote = quoted_fact(step.subquestion)
            if quote is None:
                continue
            copies.quotes += 1
            copies.verbatim += quote in story
            copies.right_fact += position < len(gold) and quote == gold[position]
    return copies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", nargs="+")
    parser.add_argument("-d", "--dataset", nargs="+", required=True)
    parser.add_argument("-o", "--dataset-option", action="append", metavar="KEY=VALUE")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    try:
        datasets = args.dataset * len(args.predictions) if len(args.dataset) == 1 else args.dataset
        if len(datasets) != len(args.predictions):
            raise UserError(f"{len(args.dataset)} datasets for {len(args.predictions)} "
                            "predictions files: give one, or one per file")
        print("| predictions | quotes | verbatim | the gold step's fact |\n|---|---:|---:|---:|")
        for path, dataset in zip(args.predictions, datasets, strict=True):
            problems = load_dataset_arg(dataset, args.limit, args.data_dir, args.dataset_option)
            copies = count_copies(problems, read_jsonl(path, Prediction), path)
            print(copies.row(path))
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
