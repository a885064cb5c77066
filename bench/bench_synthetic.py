"""Throughput of the synthetic generator, per split: problems per second, median of 5 runs.

    .venv/bin/python bench/bench_synthetic.py [--count 10000] [--option key=value ...]

It times the stream that `load_synthetic` reads (question, gold steps and validated `Problem`
records included), so the figure is what `socratic-distill data` sees.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

from socratic_distill.data.synthetic import SPLITS, generate, parse_options


def rate(split: str, count: int, options: dict[str, str]) -> float:
    config = parse_options(options)
    start = time.perf_counter()
    made = sum(1 for _ in itertools.islice(generate(split, config), count))
    return made / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="problems per run")
    parser.add_argument("--runs", type=int, default=5, help="runs per split; the median is shown")
    parser.add_argument("--option", action="append", default=[], help="a dataset option k=v")
    args = parser.parse_args()
    options = dict(option.split("=", 1) for option in args.option)
    for split in SPLITS:
        rates = [rate(split, args.count, options) for _ in range(args.runs)]
        print(f"{split:<11} {statistics.median(rates):>9,.0f} problems/s")


if __name__ == "__main__":
    main()
