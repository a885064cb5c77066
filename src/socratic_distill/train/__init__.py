"""Training students: the library API that `socratic-distill train` calls.

    from socratic_distill.train import TrainConfig, train_student, load_trained
    out = train_student("qg", "build/gsm8k", "scratch:small", "students/qg", TrainConfig(epochs=5))
    model, tokenizer, metadata = load_trained(out)

Heavy imports (torch, transformers) happen inside the functions, so importing this is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from socratic_distill.train.config import TrainConfig
from socratic_distill.train.models import find_smollm2_gguf, load_student
from socratic_distill.train.outdir import read_student_file
from socratic_distill.train.trainer import train_student

__all__ = ["TrainConfig", "find_smollm2_gguf", "load_student", "load_trained", "train_student"]


def load_trained(path: str | Path) -> tuple[Any, Any, dict[str, Any]]:
    """(model, tokenizer, metadata) of a trained student directory written by `train_student`."""
    metadata = read_student_file(path)
    model, tokenizer = load_student(str(path))
    return model, tokenizer, metadata
