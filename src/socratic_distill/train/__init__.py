"""Training students: the library API that `socratic-distill train` calls.

    from socratic_distill.train import TrainConfig, train_student, load_trained
    out = train_student("qg", "build/gsm8k", "scratch:small", "students/qg", TrainConfig(epochs=5))
    model, tokenizer, metadata = load_trained(out)

Heavy imports (torch, transformers) happen inside the functions, so importing this is cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from socratic_distill.errors import UserError
from socratic_distill.train.config import TrainConfig
from socratic_distill.train.models import find_smollm2_gguf, load_student
from socratic_distill.train.outdir import STUDENT_FILE
from socratic_distill.train.trainer import train_student

__all__ = ["TrainConfig", "find_smollm2_gguf", "load_student", "load_trained", "train_student"]


def load_trained(path: str | Path) -> tuple[Any, Any, dict[str, Any]]:
    """(model, tokenizer, metadata) of a trained student directory written by `train_student`."""
    path = Path(path)
    metadata_path = path / STUDENT_FILE
    if not metadata_path.is_file():
        raise UserError(f"{path}: not a trained student directory (no {STUDENT_FILE})")
    try:
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise UserError(f"{metadata_path}: unreadable ({error})") from None
    model, tokenizer = load_student(str(path))
    return model, tokenizer, metadata
