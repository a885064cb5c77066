"""`TrainConfig` -> the Trainer's `TrainingArguments`, with hardware-dependent choices resolved.

bf16: on CPU, transformers 5.x only accepts `bf16=True` together with `use_cpu=True` (otherwise
"Your setup doesn't support bf16/gpu"); with both, accelerate runs forward passes under
`torch.autocast("cpu", torch.bfloat16)` while weights and optimiser state stay float32. It pays
only where the CPU computes bf16 natively (AVX512-BF16 or AMX): there, on this project's CPUs,
training runs ~2x faster than fp32 (see bench/bench_train.py); elsewhere bf16 is emulated and
slower, so "auto" leaves it off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from socratic_distill.errors import UserError
from socratic_distill.train.config import TrainConfig


def build_training_args(config: TrainConfig, output_dir: Path, scratch: bool, has_validation: bool):
    """The Trainer's arguments for `config`; creating them also sets up multi-process state."""
    from transformers import TrainingArguments

    evaluate = has_validation
    kwargs: dict[str, Any] = {
        "output_dir": str(output_dir),
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps,
        "learning_rate": config.resolved_learning_rate(scratch),
        "lr_scheduler_type": config.lr_scheduler,
        "warmup_steps": config.warmup_ratio,  # a float below 1 is a share of the steps
        "weight_decay": config.weight_decay,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.grad_accum,
        # Batches of similar lengths: little padding without packing (see data.py).
        "train_sampling_strategy": "group_by_length",
        "use_cpu": not _has_accelerator(),
        "bf16": use_bf16(config.bf16),
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        "eval_strategy": "steps" if evaluate else "no",
        "eval_steps": config.eval_steps or config.save_steps,
        "load_best_model_at_end": evaluate,
        "metric_for_best_model": "eval_loss" if evaluate else None,
        "greater_is_better": False if evaluate else None,
        "prediction_loss_only": True,  # never keep eval logits: vocab x tokens floats
        "logging_steps": config.logging_steps,
        "logging_first_step": True,
        "include_num_input_tokens_seen": "non_padding",  # logs real tokens/s
        "report_to": _report_to(config.report_to),
        "seed": config.seed,
        "remove_unused_columns": False,  # PadCollator builds exactly the model's inputs
        # Every parameter gets a gradient in every step; the unused-parameter search costs a
        # graph traversal per step.
        "ddp_find_unused_parameters": False,
    }
    # transformers 5.x renamed gradient_checkpointing (still accepted, with a warning).
    recompute = "activation_checkpointing" if hasattr(TrainingArguments, "activation_checkpointing") else None
    kwargs[recompute or "gradient_checkpointing"] = config.gradient_checkpointing
    kwargs.update(config.trainer_args)
    try:
        return TrainingArguments(**kwargs)
    except (TypeError, ValueError) as error:
        raise UserError(f"training arguments: {error}") from None


def _has_accelerator() -> bool:
    import torch

    if hasattr(torch, "accelerator"):
        return torch.accelerator.is_available()
    return torch.cuda.is_available()


def use_bf16(setting: bool | str) -> bool:
    """Resolve bf16 "auto": on only where bf16 is computed natively, i.e. actually faster."""
    import torch

    if setting != "auto":
        return bool(setting)
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    if _has_accelerator():
        return False
    # Without AVX512-BF16 or AMX, CPU bf16 is emulated and slower than fp32.
    native = [
        getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    ]
    return any(check() for check in native if check is not None)


def _report_to(target: str) -> list[str]:
    from transformers.integrations import is_tensorboard_available, is_wandb_available

    available = {"tensorboard": is_tensorboard_available, "wandb": is_wandb_available}
    if target != "none" and not available[target]():
        raise UserError(
            f"report_to `{target}`: the `{target}` package is not installed (pip install {target})"
        )
    return [] if target == "none" else [target]
