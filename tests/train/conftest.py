"""Small training sets and a fast config for the training tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Never wait on the Hugging Face hub: there is no network here, and retries take a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from train_helpers import arithmetic_examples, write_training_set  # noqa: E402


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return write_training_set(tmp_path / "data", arithmetic_examples())


@pytest.fixture
def fast_config():
    from socratic_distill.train import TrainConfig

    return TrainConfig(max_steps=30, save_steps=10, logging_steps=5, batch_size=8, validation_fraction=0.1)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models train fastest on one thread, and far faster than on two busy cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
