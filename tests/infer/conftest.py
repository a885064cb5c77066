"""Fixtures for the inference tests: one tokenizer and tiny random models per session."""

from __future__ import annotations

import pytest
import torch
from infer_helpers import make_model, make_problems, make_tokenizer


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread; more oversubscribe a shared machine's cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tok():
    return make_tokenizer()


@pytest.fixture(scope="session")
def model(tok):
    return make_model(tok)


@pytest.fixture
def problems():
    return make_problems(6)
