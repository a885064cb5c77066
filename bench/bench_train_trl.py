"""Our training core against TRL's SFTTrainer on the same data, model and settings.

    .venv/bin/pip install trl   # only for this benchmark
    .venv/bin/python bench/bench_train_trl.py [--model scratch:small] [--problems 240] [--batch-size 8]

One epoch over GSM8K `--task` examples (a single loss span each, so that TRL's prompt/completion
format expresses the same loss), from identical initial weights, three ways:
- `ours`: `train_student` (length-grouped batches, dynamic padding, span masks);
- `trl`: SFTTrainer with prompt/completion data (completion-only loss, random batches, padding);
- `trl-packed`: SFTTrainer with best-fit-decreasing packing (padding-free rows of max_length;
  on CPU SDPA masks each packed row block-diagonally from its position_ids).
Prints real tokens/s, seconds, trained tokens (the loss masks must agree) and the validation
loss of each result on the same held-out examples, measured with our masks.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import torch
from bench_train import build_examples

from socratic_distill.jsonl import write_jsonl
from socratic_distill.train import TrainConfig, load_student, train_student
from socratic_distill.train.arguments import use_bf16
from socratic_distill.train.data import IGNORE_INDEX, PadCollator, split_examples, tokenize_examples

MAX_LENGTH = 1024
LEARNING_RATE = 5e-4


def validation_loss(model_dir: Path, features: list[dict]) -> float:
    """Token-weighted loss on `features` (our masks), the same measure for every trainer."""
    model, _ = load_student(str(model_dir))
    collate = PadCollator(pad_token_id=0)
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(features), 8):
            batch = collate(features[start : start + 8])
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            labels = batch["labels"][:, 1:]
            losses = torch.nn.functional.cross_entropy(
                logits[:, :-1].flatten(0, 1).float(),
                labels.flatten(),
                ignore_index=IGNORE_INDEX,
                reduction="sum",
            )
            total += losses.item()
            count += int((labels != IGNORE_INDEX).sum())
    return total / count


def run_ours(data_dir: Path, init_dir: Path, out: Path, task: str, batch_size: int) -> dict:
    config = TrainConfig(
        epochs=1, batch_size=batch_size, learning_rate=LEARNING_RATE, max_length=MAX_LENGTH,
        validation_fraction=0, logging_steps=10, trainer_args={"save_strategy": "no"},
    )  # fmt: skip
    train_student(task, data_dir, str(init_dir), out, config)
    metrics = json.loads((out / "student.json").read_text())["metrics"]
    return {
        "tokens/s": metrics["tokens_per_second"],
        "seconds": metrics["seconds"],
        "steps": metrics["global_step"],
    }


def run_trl(examples, init_dir: Path, out: Path, batch_size: int, packing: bool, median_length: int) -> dict:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    rows = [
        {"prompt": e.text[: e.loss_spans[0][0]], "completion": e.text[e.loss_spans[0][0] :]} for e in examples
    ]
    model, tokenizer = load_student(str(init_dir))
    # Packed rows hold MAX_LENGTH tokens: keep the tokens per step close to the unpacked runs'.
    rows_per_batch = max(1, round(batch_size * median_length / MAX_LENGTH)) if packing else batch_size
    args = SFTConfig(
        output_dir=str(out), num_train_epochs=1, per_device_train_batch_size=rows_per_batch,
        learning_rate=LEARNING_RATE, lr_scheduler_type="cosine", warmup_steps=0.03, use_cpu=True,
        bf16=use_bf16("auto"), save_strategy="no", logging_steps=10, report_to=[], max_length=MAX_LENGTH,
        packing=packing, include_num_input_tokens_seen="non_padding", seed=42,
    )  # fmt: skip
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
    )
    trained_tokens = sum(
        sum(label != IGNORE_INDEX for label in row) for row in trainer.train_dataset["labels"]
    )
    started = time.time()
    trainer.train()
    seconds = time.time() - started
    trainer.save_model(str(out))
    tokens = trainer.state.num_input_tokens_seen
    return {
        "tokens/s": round(tokens / seconds, 1),
        "seconds": round(seconds, 2),
        "steps": trainer.state.global_step,
        "trained_tokens": trained_tokens,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="scratch:small", help="a scratch size or a model directory")
    parser.add_argument("--task", default="unified", choices=["answer", "cot", "unified"])
    parser.add_argument("--problems", type=int, default=240)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    examples = build_examples(args.task, args.problems)
    train, held_out = split_examples(examples, 0.1, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_jsonl(tmp / "data" / f"{args.task}.jsonl", train)
        torch.manual_seed(0)
        model, tokenizer = load_student(args.model, [example.text for example in examples])
        model.save_pretrained(tmp / "init")  # every run starts from these weights
        tokenizer.save_pretrained(tmp / "init")
        features, stats = tokenize_examples(train, tokenizer, MAX_LENGTH)
        val_features, _ = tokenize_examples(held_out, tokenizer, MAX_LENGTH)
        median = sorted(len(f["input_ids"]) for f in features)[len(features) // 2]
        print(f"{len(train)} train / {len(held_out)} validation examples, median {median} tokens")
        print(f"initial validation loss {validation_loss(tmp / 'init', val_features):.3f}")
        results = {"ours": run_ours(tmp / "data", tmp / "init", tmp / "ours", args.task, args.batch_size)}
        results["ours"]["trained_tokens"] = stats.trained_tokens
        for name, packing in (("trl", False), ("trl-packed", True)):
            results[name] = run_trl(train, tmp / "init", tmp / name, args.batch_size, packing, median)
        for name, result in results.items():
            loss = validation_loss(tmp / name, val_features)
            print(
                f"{name:<11} {result['tokens/s']:>8,.0f} real tokens/s  {result['seconds']:>7.1f} s  "
                f"{result['steps']:>4} steps  {result['trained_tokens']:>7} trained tokens  "
                f"val loss {loss:.3f} (ppl {math.exp(loss):.1f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
