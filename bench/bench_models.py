"""The students that the solving and serving benchmarks decode with.

Trained by the project's own `train_student` on synthetic `unified` texts, so that they write
well-formed `Q:`/`A:` lines and end with `Q: [END]`. One model serves as decomposer, solver and
unified student: the three tasks share one text, so their greedy outputs compare directly.
Small scratch GPT-2s by default; `base` fine-tunes a pretrained model instead (`smollm2`: the
deployment-size SmolLM2-135M).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from socratic_distill.data.registry import load_problems
from socratic_distill.formats import build_examples
from socratic_distill.jsonl import write_jsonl
from socratic_distill.train import TrainConfig, load_trained, train_student
from socratic_distill.train.models import scratch_config, train_scratch_tokenizer
from socratic_distill.train.outdir import STUDENT_FILE


def unified_student(
    out: Path | None, *, layers: int, width: int, steps: int, problems: int, learning_rate: float,
    base: str | None = None, batch_size: int = 16,
):
    """(model, tokenizer) trained for `steps` steps; kept in `out` when given. A scratch GPT-2
    of `layers` x `width`, or `base` (a model spec of `train_student`) fine-tuned."""
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="bench-student-"))
    if not (out / STUDENT_FILE).is_file():
        _train(out, layers, width, steps, problems, learning_rate, base, batch_size)
    model, tokenizer, _ = load_trained(out)
    return model.eval(), tokenizer


def _train(out: Path, layers: int, width: int, steps: int, problems: int, learning_rate: float,
           base: str | None, batch_size: int) -> None:
    from transformers import GPT2LMHeadModel

    examples = [
        example
        for problem in load_problems("synthetic:train", limit=problems)
        for example in build_examples(problem, "unified")
    ]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_jsonl(tmp / "data" / "unified.jsonl", examples)
        settings = TrainConfig(
            max_steps=steps, batch_size=batch_size, learning_rate=learning_rate, warmup_ratio=0.1,
            validation_fraction=0, logging_steps=50, trainer_args={"save_strategy": "no"},
        )  # fmt: skip
        if base is not None:
            train_student("unified", tmp / "data", base, out, settings)
            return
        tokenizer = train_scratch_tokenizer([example.text for example in examples], 1024)
        torch.manual_seed(0)
        config = scratch_config(tokenizer, n_layer=layers, n_embd=width,
                                n_head=max(1, width // 64), n_positions=512)
        GPT2LMHeadModel(config).save_pretrained(tmp / "init")
        tokenizer.save_pretrained(tmp / "init")
        train_student("unified", tmp / "data", str(tmp / "init"), out, settings)
