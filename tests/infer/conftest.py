"""Fixtures for the inference tests: one tokenizer and tiny random models per session."""

from __future__ import annotations

import pytest
from infer_helpers import make_model, make_problems, make_tokenizer


@pytest.fixture(scope="session")
def tok():
    return make_tokenizer()


@pytest.fixture(scope="session")
def model(tok):
    return make_model(tok)


@pytest.fixture
def problems():
    return make_problems(6)
