"""Helpers shared by the training tests (a uniquely named module: tests have no packages)."""

from __future__ import annotations

from pathlib import Path

from socratic_distill.formats import FORMAT_VERSION
from socratic_distill.jsonl import write_jsonl
from socratic_distill.schemas import TrainingExample


def arithmetic_examples(task: str = "answer", n: int = 40) -> list[TrainingExample]:
    """A repetitive toy set that a tiny model learns within a few dozen steps."""
    examples = []
    for i in range(n):
        a, b = i % 7, (i * 3) % 5
        prompt = f"Question: What is {a} plus {b}?\n"
        completion = f"A: {a} + {b} = {a + b}. #### {a + b}\n"
        examples.append(
            TrainingExample(
                id=f"p{i}",
                task=task,
                text=prompt + completion,
                loss_spans=[(len(prompt), len(prompt + completion))],
                format_version=FORMAT_VERSION,
            )
        )
    return examples


def write_training_set(directory: Path, examples: list[TrainingExample], task: str = "answer") -> Path:
    write_jsonl(directory / f"{task}.jsonl", examples)
    return directory
