"""`TrainConfig`: every setting of a training run, validated in one place.

The CLI fills it from flags (and a YAML recipe); `train_student` turns it into the Trainer's
`TrainingArguments`; the resolved config is saved in the student's `student.json`. Anything the
Trainer offers that is not a field here goes through `trainer_args` unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from socratic_distill.methods import Task

# Learning rates when none is given: a random model needs larger steps than a pretrained one,
# and LoRA's low-rank updates tolerate (and need) larger steps than full fine-tuning.
DEFAULT_LR = {"scratch": 5e-4, "lora": 2e-4, "full": 5e-5}


class TrainConfig(BaseModel):
    """Settings of one training run; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    task: Task | None = Field(
        default=None,
        description="Training set DIR/{task}.jsonl to train on; train_student's `task` fills it.",
    )
    epochs: float = Field(default=3.0, gt=0, description="Passes over the training set.")
    max_steps: int = Field(default=-1, description="Optimiser steps to run; overrides `epochs` when > 0.")
    learning_rate: float | None = Field(
        default=None,
        gt=0,
        description="Peak learning rate; None: 5e-4 for scratch models, 2e-4 with LoRA, 5e-5 "
        "for full fine-tuning of a pretrained model.",
    )
    lr_scheduler: str = Field(default="cosine", description="Trainer lr_scheduler_type.")
    warmup_ratio: float = Field(
        default=0.03, ge=0, lt=1, description="Share of the steps spent warming up the rate."
    )
    weight_decay: float = Field(default=0.0, ge=0, description="AdamW weight decay.")
    batch_size: int = Field(default=8, ge=1, description="Examples per batch per process.")
    grad_accum: int = Field(default=1, ge=1, description="Batches accumulated per optimiser step.")
    max_length: int = Field(
        default=1024,
        ge=8,
        description="Tokens per example; longer examples are truncated (1.3% of GSM8K's unified "
        "examples exceed 512 digit-split tokens). Capped at the model's positions.",
    )
    dropout: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="Probability of every torch.nn.Dropout layer of the model (GPT-2's embedding, "
        "residual and attention dropouts: 0.1 in scratch:*:gpt2 and pretrained GPT-2); None keeps "
        "the model's own. Llama-style models (SmolLM2, scratch:*:llama) train without dropout. "
        "At scratch:tiny's size dropout costs 30% of the training speed (BENCHMARKS.md).",
    )
    verifier_loss: Literal["verdict", "pairs"] = Field(
        default="verdict",
        description="Task verifier only. verdict: learn each solution's yes or no. pairs: learn to "
        "score a right solution above a wrong one of the same problem (a Bradley-Terry loss on "
        "the verdict's log-odds, as reward models learn from preference pairs), so that how easy "
        "a problem is cannot stand in for the solution; needs one verdict per solution.",
    )
    lora: bool = Field(default=False, description="Train LoRA adapters (merged into the weights at the end).")
    lora_r: int = Field(default=16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(default=32, ge=1, description="LoRA scaling numerator (alpha / r).")
    lora_dropout: float = Field(default=0.05, ge=0, lt=1, description="Dropout on LoRA inputs.")
    validation_fraction: float = Field(
        default=0.05,
        ge=0,
        le=0.5,
        description="Share of problems held out for validation loss; 0 turns evaluation, "
        "early stopping and best-model selection off.",
    )
    early_stopping_patience: int | None = Field(
        default=3,
        ge=1,
        description="Stop after this many evaluations without a better validation loss; "
        "None: never stop early.",
    )
    eval_steps: int | None = Field(
        default=None,
        ge=1,
        description="Steps between validation runs; None: at every checkpoint (save_steps). "
        "save_steps must be a multiple of it.",
    )
    save_steps: int = Field(default=200, ge=1, description="Steps between checkpoints.")
    save_total_limit: int | None = Field(
        default=2,
        ge=1,
        description="Checkpoints kept (the best one is always kept too); None: keep all.",
    )
    logging_steps: int = Field(default=10, ge=1, description="Steps between loss log lines.")
    seed: int = Field(default=42, description="Seed of the split, the initialisation and sampling.")
    bf16: bool | Literal["auto"] = Field(
        default="auto",
        description="bf16 autocast; auto: on where the hardware computes bf16 natively "
        "(recent GPUs, CPUs with AVX512-BF16 or AMX).",
    )
    gradient_checkpointing: bool = Field(
        default=False, description="Recompute activations in the backward pass to save memory."
    )
    report_to: Literal["none", "tensorboard", "wandb"] = Field(
        default="none", description="Where metrics go besides the console."
    )
    trainer_args: dict[str, Any] = Field(
        default_factory=dict,
        description="Further transformers.TrainingArguments fields, passed through as they are.",
    )

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        eval_steps = self.eval_steps or self.save_steps
        if self.validation_fraction > 0 and self.save_steps % eval_steps:
            raise ValueError(
                f"save_steps ({self.save_steps}) must be a multiple of eval_steps ({eval_steps}): "
                "the best model is chosen among evaluated checkpoints"
            )
        return self

    def resolved_learning_rate(self, scratch: bool) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return DEFAULT_LR["scratch" if scratch else "lora" if self.lora else "full"]
