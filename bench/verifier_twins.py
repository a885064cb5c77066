"""A measured lever for the verifier (issue 17): right samples with one operation turned around.

The wrong samples a verifier prefers where a right one was there have the gold number of steps
and one operation turned around (BENCHMARKS.md, stop 38). This script adds such a wrong twin of
every right sample of a verifier set: one step's first operator swapped (`+` and `-`, `*` and
`/`), its value computed again by the calculator, and every later expression that used the old
value given the new one. A twin whose numbers stop being whole, or whose answer is still the
gold one, is left out. Trained on pairs (`verifier_loss: pairs`), each right sample then meets
a wrong one that differs from it only where the student itself goes wrong.

    python bench/verifier_twins.py SETS/verifier.jsonl --out TWINS  # TWINS/verifier.jsonl
    socratic-distill train --task verifier --data TWINS --verifier-loss pairs ...
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

from socratic_distill.calculator import format_number, safe_eval
from socratic_distill.formats import VERDICT, VERDICT_WORDS
from socratic_distill.jsonl import read_jsonl, write_jsonl
from socratic_distill.schemas import TrainingExample

STEP = re.compile(r"(\S+) = <<([^<>=]*)=([^<>]*)>>(\S+?)(?=[\s.,]|$)")  # `14*2 = <<14*2=28>>28`
SWAPS = {"+": "-", "-": "+", "*": "/", "/": "*"}
RIGHT, WRONG = (f"\n{VERDICT} {VERDICT_WORDS[v]}\n" for v in (True, False))


def _swapped(expr: str) -> str | None:
    for index, char in enumerate(expr):
        if char in SWAPS and index > 0:  # not a sign
            return expr[:index] + SWAPS[char] + expr[index + 1:]
    return None


def _whole(expr: str) -> str | None:
    value = safe_eval(expr)
    return format_number(value) if value is not None and value >= 0 and value == int(value) else None


def twin(solution: str, step: int) -> str | None:
    """`solution` with step `step`'s operation turned around and the change carried on; None
    where that gives no whole numbers."""
    lines, changed, seen = solution.split("\n"), {}, -1
    for number, line in enumerate(lines):
        match = STEP.search(line)
        if not match or not line.startswith("A:"):
            continue
        seen += 1
        if seen < step:
            continue
        expr = match.group(2)
        if seen == step:
            expr = _swapped(expr)
            if expr is None:
                return None
        else:
            expr = re.sub(r"[\d.]+", lambda m: changed.get(m.group(0), m.group(0)), expr)
        value = _whole(expr)
        if value is None:
            return None
        old = match.group(3)
        if value != old:
            changed[old] = value
        line = line[:match.start()] + f"{expr} = <<{expr}={value}>>{value}" + line[match.end():]
        lines[number] = re.sub(r"#### \S+$", f"#### {value}", line)
    flipped = "\n".join(lines)
    if seen < step or _final(flipped) == _final(solution):  # the answer must change with it
        return None
    return flipped


def _final(solution: str) -> str | None:
    answers = re.findall(r"#### (\S+)", solution)
    return answers[-1] if answers else None


def twins(examples: list[TrainingExample], seed: int = 0) -> list[TrainingExample]:
    """One wrong twin of each right example (a random step, else the next that works)."""
    rng, out = random.Random(seed), []
    for example in examples:
        if not example.text.endswith(RIGHT):
            continue
        head, solution = example.text[: -len(RIGHT)].split("\n", 1)
        steps = solution.count("\nA:") + solution.startswith("A:")
        start = rng.randrange(max(steps, 1))
        for step in [*range(start, steps), *range(start)]:
            flipped = twin(solution, step)
            if flipped is not None:
                text = f"{head}\n{flipped}{WRONG}"
                out.append(example.model_copy(update={
                    "text": text, "loss_spans": [(len(text) - len(WRONG) + len(f"\n{VERDICT}"),
                                                  len(text))]}))
                break
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("verifier_set")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    examples = read_jsonl(args.verifier_set, TrainingExample)
    added = twins(examples, args.seed)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    write_jsonl(Path(args.out) / "verifier.jsonl", examples + added)
    print(f"{len(added)} wrong twins added to {len(examples)} examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
