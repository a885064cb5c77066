"""Training throughput of every `scratch:SIZE[:ARCH]` student, side by side, on quickstart texts.

    .venv/bin/python bench/bench_scratch.py [--specs scratch:tiny scratch:tiny:llama] [--steps 60]

Each spec trains `--steps` optimizer steps (batch `--batch-size`, bf16 autocast, the quickstart's
learning rate) with `train_student` on the `qa` texts of the quickstart's synthetic problems, and
`--repeats` runs interleave across specs. The table gives each spec's parameters and the median
of its real (non-padding) training tokens per second, over the whole run and over steps after
the first ten (start-up and warm-up excluded), and the ratio to the first spec.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from transformers import TrainerCallback

from socratic_distill.data.registry import load_problems
from socratic_distill.formats import build_examples
from socratic_distill.jsonl import write_jsonl
from socratic_distill.train import TrainConfig, train_student
from socratic_distill.train.outdir import read_student_file

QUICKSTART_OPTIONS = {"min_steps": 1, "max_steps": 3, "max_number": 20, "distractors": 0}
WARMUP_STEPS = 10


class SteadyClock(TrainerCallback):
    """Tokens and seconds from the end of step WARMUP_STEPS to the end of the last step."""

    def __init__(self):
        self.start = None

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == WARMUP_STEPS:
            self.start = (time.perf_counter(), state.num_input_tokens_seen)
        self.end = (time.perf_counter(), state.num_input_tokens_seen)

    def rate(self) -> float:
        (started, tokens_before), (ended, tokens_after) = self.start, self.end
        return (tokens_after - tokens_before) / (ended - started)


def write_texts(directory: Path, problems: int) -> None:
    loaded = load_problems("synthetic:train", limit=problems, options=QUICKSTART_OPTIONS)
    write_jsonl(directory / "qa.jsonl", [ex for p in loaded for ex in build_examples(p, "qa")])


def run_once(spec: str, data: Path, steps: int, batch_size: int) -> dict:
    clock = SteadyClock()
    config = TrainConfig(max_steps=steps, batch_size=batch_size, learning_rate=0.004,
                         validation_fraction=0.0, save_steps=10 * steps, logging_steps=steps)
    with tempfile.TemporaryDirectory(prefix="bench-scratch-") as out:
        train_student("qa", data, spec, out, config, callbacks=[clock])
        metadata = read_student_file(out)
        return {"parameters": metadata["parameters"],
                "tokens_per_second": metadata["metrics"]["tokens_per_second"], "steady": clock.rate()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="+", default=["scratch:tiny", "scratch:tiny:llama",
                                                        "scratch:small", "scratch:small:llama"])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--problems", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scratch-data-") as data:
        write_texts(Path(data), args.problems)
        runs = {spec: [] for spec in args.specs}
        for _ in range(args.repeats):
            for spec in args.specs:
                runs[spec].append(run_once(spec, Path(data), args.steps, args.batch_size))
    print(f"\n{args.steps} steps, batch {args.batch_size}, median of {args.repeats}\n")
    print("| spec | parameters | real tokens/s | steady tokens/s | steady vs first |")
    print("|---|---:|---:|---:|---:|")
    first = None
    for spec, results in runs.items():
        whole = statistics.median(r["tokens_per_second"] for r in results)
        steady = statistics.median(r["steady"] for r in results)
        first = first or steady
        print(f"| `{spec}` | {results[0]['parameters'] / 1e6:.2f}M | {whole:,.0f} | {steady:,.0f} "
              f"| {steady / first:.2f}x |")


if __name__ == "__main__":
    main()
