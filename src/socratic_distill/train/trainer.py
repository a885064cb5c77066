"""`train_student`: fine-tune a student on one task's training set with the HF Trainer.

    socratic-distill train --task qg --data build/gsm8k --model scratch:small --out students/qg
    accelerate launch -m socratic_distill train ...   # or torchrun: several processes, no changes

Sections, top to bottom: read and split the data, check the output directory, load the model,
train (checkpoints in OUT/checkpoints, validation loss, early stopping), save a standard model
directory at OUT and then `student.json`, last, so a directory without it is visibly incomplete.
`OUT/train_run.json` records what the checkpoints belong to, so that `resume` refuses a
directory trained for another task or model.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from socratic_distill.errors import UserError
from socratic_distill.jsonl import atomic_writer, file_sha256
from socratic_distill.methods import VERIFIER_TASK
from socratic_distill.train.arguments import build_training_args
from socratic_distill.train.config import TrainConfig
from socratic_distill.train.data import (
    PadCollator,
    PairCollator,
    read_training_set,
    split_examples,
    tokenize_examples,
    verdict_pairs,
)
from socratic_distill.train.models import count_parameters, load_student, set_dropout
from socratic_distill.train.outdir import (
    CHECKPOINTS,
    STUDENT_FILE,
    check_out_dir,
    checkpoint_student_callback,
    main_process_writes,
    read_json,
    start_run,
)

logger = logging.getLogger(__name__)

STUDENT_SCHEMA = 1


def train_student(
    task: str,
    data_dir: str | Path,
    model_spec: str,
    out_dir: str | Path,
    config: TrainConfig | None = None,
    *,
    resume: bool = False,
    callbacks: list[Any] | None = None,
) -> Path:
    """Train a student for `task` on DATA_DIR/{task}.jsonl; return OUT, a loadable model dir.

    `resume` continues the run in OUT from its last complete checkpoint; `callbacks` are extra
    `transformers.TrainerCallback`s.
    """
    # 1. Data: read, check, split (the split is deterministic, so every process agrees).
    config = _resolve_task(task, config or TrainConfig())
    data_path = Path(data_dir) / f"{task}.jsonl"
    if not data_path.is_file():
        raise UserError(f"{data_path}: no such file (`socratic-distill build` writes DIR/{task}.jsonl)")
    examples = read_training_set(data_path, task)
    verdicts = _verdicts(examples, data_path) if task == VERIFIER_TASK else None
    train_examples, val_examples = split_examples(examples, config.validation_fraction, config.seed)
    if config.verifier_loss == "pairs":
        _check_pairs(data_path, verdicts, train_examples, val_examples)
    scratch = model_spec.startswith("scratch:")
    if scratch and config.lora:
        raise UserError("`lora` needs a pretrained model; a scratch model trains all its weights")

    # 2. Output directory. The arguments come first: they set up the process group.
    out_dir = Path(out_dir)
    args = build_training_args(config, out_dir / CHECKPOINTS, scratch, bool(val_examples))
    run = {"task": task, "base_model": model_spec, "data_sha256": file_sha256(data_path)}
    checkpoint = check_out_dir(out_dir, run, resume)

    # 3. Model. A resumed full fine-tune reloads from its checkpoint: for scratch models this
    # keeps the tokenizer trained at the start (and it avoids a second GGUF dequantisation).
    from transformers import set_seed

    set_seed(config.seed)
    source = str(checkpoint) if checkpoint and not config.lora else model_spec
    model, tokenizer = load_student(source, [example.text for example in examples] if scratch else None)
    if config.dropout is not None:  # before LoRA, which brings dropout layers of its own
        set_dropout(model, config.dropout)
    if config.lora:
        model = _with_lora(model, config)
    # Claimed only once the model loads, so that a bad --model leaves no directory to clean up.
    main_process_writes(args, lambda: start_run(out_dir, run, checkpoint))
    max_length = _max_length(model, config.max_length)
    train_features, val_features, stats = _features(
        data_path, train_examples, val_examples, tokenizer, max_length,
        keep_end=task == VERIFIER_TASK,
    )
    counts = {"validation_examples": len(val_features)}
    pair_verdicts = None  # the ` yes` and ` no` token ids, when the loss compares pairs
    if config.verifier_loss == "pairs":
        from socratic_distill.infer.verifier import verdict_token_ids

        pair_verdicts = verdict_token_ids(tokenizer)
        train_features, val_features = _pair_features(
            train_examples, val_examples, tokenizer, max_length, pair_verdicts)
        counts |= {"pairs": len(train_features), "validation_pairs": len(val_features)}

    # 4. Train. Every full-weight checkpoint is a student too (for learning curves).
    metadata = {
        "schema": STUDENT_SCHEMA,
        "task": task,
        "format_version": examples[0].format_version,
        "base_model": model_spec,
        "data": {"path": str(data_path), "sha256": run["data_sha256"], "examples": len(examples)}
        | counts
        | asdict(stats, dict_factory=lambda items: {k: v for k, v in items if k != "dropped_ids"}),
        "config": config.model_dump(mode="json")
        | {"learning_rate": args.learning_rate, "bf16": args.bf16, "max_length": max_length},
        "world_size": args.world_size,
    }
    if verdicts:  # how the scorer must lay its solutions out
        metadata["verdicts"] = verdicts
    if not config.lora:  # LoRA checkpoints hold adapters, not a model from_pretrained loads
        callbacks = [*(callbacks or []), checkpoint_student_callback(metadata)]
    trainer = _make_trainer(model, tokenizer, args, train_features, val_features, config, callbacks,
                            pair_verdicts)
    tokens_before = _tokens_seen(checkpoint)
    started = time.time()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    metrics = _train_metrics(trainer, result, time.time() - started, tokens_before)
    metrics["resumed_from"] = checkpoint.name if checkpoint else None
    logger.info("trained %s: %s", task, json.dumps(metrics))

    # 5. Save the model, then student.json.
    metadata = metadata | {"metrics": metrics, "versions": _versions()}
    _save_student(trainer, tokenizer, out_dir, metadata, config.lora)
    return out_dir


def _verdicts(examples: list, data_path: Path) -> str:
    kinds = {example.verdicts or "solution" for example in examples}
    if len(kinds) > 1:
        raise UserError(f"{data_path}: mixes verifier examples with one verdict per solution and "
                        "with one per step; build it again with or without --verifier-stepwise")
    return kinds.pop()


def _check_pairs(data_path: Path, verdicts: str | None, train_examples, val_examples) -> None:
    """Refuse, before any model loads, a set that gives `verifier_loss: pairs` nothing to rank."""
    if verdicts != "solution":
        raise UserError("verifier_loss `pairs` needs one verdict per solution; build the set "
                        "again without --verifier-stepwise")
    for side, examples in (("training", train_examples), ("validation", val_examples)):
        labels: dict[str, set[str]] = {}
        for example in examples:
            start, end = example.loss_spans[-1]
            labels.setdefault(example.id, set()).add(example.text[start:end].strip())
        if examples and not any(len(found) > 1 for found in labels.values()):
            raise UserError(f"{data_path}: no {side} problem has both a right and a wrong solution "
                            "to rank (verifier_loss `pairs`); sample more problems or change "
                            "validation_fraction")


def _pair_features(train_examples, val_examples, tokenizer, max_length, verdicts):
    """Right-against-wrong pairs of each side of the split (`data.verdict_pairs`)."""
    train_pairs = verdict_pairs(train_examples, tokenizer, max_length, verdicts)
    val_pairs = verdict_pairs(val_examples, tokenizer, max_length, verdicts)
    val_pairs.sort(key=lambda feature: len(feature["input_ids"]))
    return train_pairs, val_pairs


def _features(data_path, train_examples, val_examples, tokenizer, max_length, keep_end=False):
    """Token features of both sides of the split; refuse a side left with nothing to train on."""
    train_features, stats = tokenize_examples(train_examples, tokenizer, max_length, keep_end)
    val_features, _ = tokenize_examples(val_examples, tokenizer, max_length, keep_end)
    if not train_features:
        raise UserError(f"{data_path}: no example has a token to train on within {max_length} tokens")
    if val_examples and not val_features:
        raise UserError(
            f"{data_path}: no validation example has a token to train on; set "
            "validation_fraction 0 or raise max_length"
        )
    val_features.sort(key=lambda feature: len(feature["input_ids"]))  # less padding in eval
    return train_features, val_features, stats


def _resolve_task(task: str, config: TrainConfig) -> TrainConfig:
    if config.task is not None and config.task != task:
        raise UserError(f"config `task` is `{config.task}` but training was asked for `{task}`")
    if config.verifier_loss == "pairs" and task != VERIFIER_TASK:
        raise UserError(f"verifier_loss `pairs` ranks verifier solutions; task `{task}` has none")
    return config.model_copy(update={"task": task})


def _max_length(model: Any, wanted: int) -> int:
    limit = getattr(model.config, "n_positions", None) or getattr(
        model.config, "max_position_embeddings", None
    )
    if limit and wanted > limit:
        logger.warning("max_length %d exceeds the model's %d positions; using %d", wanted, limit, limit)
        return limit
    return wanted


def _with_lora(model: Any, config: TrainConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        task_type="CAUSAL_LM",
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules="all-linear",
    )
    return get_peft_model(model, lora)


def _make_trainer(model, tokenizer, args, train_features, val_features, config, callbacks,
                  pair_verdicts=None):
    from transformers import EarlyStoppingCallback

    from socratic_distill.train.student_trainer import StudentTrainer

    extra = list(callbacks or [])
    if val_features and config.early_stopping_patience:
        extra.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    if pair_verdicts is not None:
        from functools import partial

        from socratic_distill.train.student_trainer import pairwise_verdict_loss

        loss = {"loss_func": partial(pairwise_verdict_loss, verdicts=pair_verdicts)}
        collator = PairCollator(tokenizer.pad_token_id)
    else:
        loss, collator = {}, PadCollator(tokenizer.pad_token_id)
    return StudentTrainer(
        model=model,
        args=args,
        train_dataset=train_features,
        eval_dataset=val_features or None,
        data_collator=collator,
        **loss,
        processing_class=tokenizer,
        callbacks=extra,
    )


# ---- metrics and the final model ----


def _tokens_seen(checkpoint: Path | None) -> int:
    state = read_json(checkpoint / "trainer_state.json") if checkpoint else None
    return int((state or {}).get("num_input_tokens_seen", 0))


def _train_metrics(trainer, result, seconds: float, tokens_before: int) -> dict:
    """Run figures for student.json; with validation, the saved model is the best_step one."""
    state = trainer.state
    history = state.log_history
    tokens = state.num_input_tokens_seen - tokens_before
    metrics = {
        "global_step": state.global_step,
        "max_steps": state.max_steps,
        "stopped_early": state.global_step < state.max_steps,
        "epochs": round(state.epoch or 0.0, 4),
        "train_loss": result.training_loss,
        "final_train_loss": next((log["loss"] for log in reversed(history) if "loss" in log), None),
        "final_val_loss": next((log["eval_loss"] for log in reversed(history) if "eval_loss" in log), None),
        "best_val_loss": state.best_metric,
        "best_step": state.best_global_step,
        "tokens": tokens,
        "tokens_per_second": round(tokens / seconds, 1) if seconds > 0 else None,
        "seconds": round(seconds, 2),
    }
    return metrics


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("socratic-distill", "transformers", "torch", "peft"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


def _save_student(trainer, tokenizer, out_dir: Path, metadata: dict, lora: bool) -> None:
    """Write the model (LoRA merged) and tokenizer at OUT, then student.json; main process only."""

    def write() -> None:
        model = trainer.accelerator.unwrap_model(trainer.model)
        if lora:  # a plain model directory that from_pretrained loads without peft
            model = model.merge_and_unload()
        metadata["parameters"] = count_parameters(model)
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
        with atomic_writer(out_dir / STUDENT_FILE) as handle:
            json.dump(metadata, handle, indent=2)

    main_process_writes(trainer.args, write)
