"""Small training sets and a fast config for the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import arithmetic_examples, write_training_set


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return write_training_set(tmp_path / "data", arithmetic_examples())


@pytest.fixture
def fast_config():
    from socratic_distill.train import TrainConfig

    return TrainConfig(max_steps=30, save_steps=10, logging_steps=5, batch_size=8, validation_fraction=0.1)
