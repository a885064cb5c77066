"""Training throughput of every `scratch:SIZE[:ARCH]` student, side by side, on quickstart texts.

    .venv/bin/python bench/bench_scratch.py [--specs scratch:tiny scratch:tiny:llama] [--steps 60]
        [--dropouts model 0]

Each spec trains `--steps` optimizer steps (batch `--batch-size`, bf16 autocast, the quickstart's
learning rate) with `train_student` on the `qa` texts of the quickstart's synthetic problems, and
`--repeats` runs interleave across specs. The table gives each spec's parameters and the median
of its real (non-padding) training tokens per second, over the whole run and over steps after
the first ten (start-up and warm-up excluded), and the ratio to the first spec. `--dropouts`
runs every spec at each dropout (`model`: the model's own, GPT-2's 0.1; Llama has none).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from importlib.resources import files
from pathlib import Path

from bench_train import StepClock

from socratic_distill.config import load_config
from socratic_distill.data.registry import load_problems
from socratic_distill.formats import build_examples
from socratic_distill.jsonl import write_jsonl
from socratic_distill.train import TrainConfig, train_student
from socratic_distill.train.outdir import read_student_file

WARMUP_STEPS = 10


def quickstart():
    """The bundled quickstart experiment: its problems and training settings are this bench's."""
    return load_config(Path(str(files("socratic_distill") / "configs" / "quickstart.yaml")))


def write_texts(directory: Path, problems: int, options: dict) -> None:
    loaded = load_problems("synthetic:train", limit=problems, options=options)
    write_jsonl(directory / "qa.jsonl", [ex for p in loaded for ex in build_examples(p, "qa")])


def run_once(spec: str, dropout: float | None, data: Path, steps: int, batch_size: int,
             learning_rate: float) -> dict:
    clock = StepClock()
    config = TrainConfig(max_steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                         dropout=dropout, validation_fraction=0.0, save_steps=10 * steps,
                         logging_steps=steps)
    with tempfile.TemporaryDirectory(prefix="bench-scratch-") as out:
        train_student("qa", data, spec, out, config, callbacks=[clock])
        metadata = read_student_file(out)
        return {"parameters": metadata["parameters"],
                "tokens_per_second": metadata["metrics"]["tokens_per_second"],
                "steady": clock.steady_rate(WARMUP_STEPS)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="+", default=["scratch:tiny", "scratch:tiny:llama",
                                                        "scratch:tiny:bloom", "scratch:tiny:nope",
                                                        "scratch:small", "scratch:small:llama"])
    experiment = quickstart()
    settings = experiment.train_settings("unified")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=settings["batch_size"])
    parser.add_argument("--problems", type=int, default=experiment.dataset.train_limit)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dropouts", nargs="+", default=["model"],
                        help="dropout probabilities to run each spec at; `model`: its own")
    args = parser.parse_args()
    dropouts = [None if value == "model" else float(value) for value in args.dropouts]
    variants = [(spec, dropout) for spec in args.specs for dropout in dropouts]
    with tempfile.TemporaryDirectory(prefix="bench-scratch-data-") as data:
        write_texts(Path(data), args.problems, experiment.dataset.options)
        runs = {variant: [] for variant in variants}
        for _ in range(args.repeats):
            for spec, dropout in variants:
                runs[spec, dropout].append(run_once(spec, dropout, Path(data), args.steps,
                                                    args.batch_size, settings["learning_rate"]))
    print(f"\n{args.steps} steps, batch {args.batch_size}, median of {args.repeats}\n")
    print("| spec | dropout | parameters | real tokens/s | steady tokens/s | steady vs first |")
    print("|---|---:|---:|---:|---:|---:|")
    first = None
    for (spec, dropout), results in runs.items():
        whole = statistics.median(r["tokens_per_second"] for r in results)
        steady = statistics.median(r["steady"] for r in results)
        first = first or steady
        shown = "model's" if dropout is None else f"{dropout:g}"
        print(f"| `{spec}` | {shown} | {results[0]['parameters'] / 1e6:.2f}M | {whole:,.0f} | {steady:,.0f} "
              f"| {steady / first:.2f}x |")


if __name__ == "__main__":
    main()
