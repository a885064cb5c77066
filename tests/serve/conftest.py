"""Fixtures for the serving tests: tiny students and a live server shared by a module."""

from __future__ import annotations

import pytest
from serve_helpers import BUDGET, LiveServer, make_student, make_tokenizer

from socratic_distill.infer.generate import hf_generator
from socratic_distill.serve.app import create_app
from socratic_distill.serve.config import ServeConfig


@pytest.fixture(scope="session")
def tok():
    return make_tokenizer()


@pytest.fixture(scope="session")
def generators(tok):
    """Decomposer, solver and a unified student: three different random tiny GPT-2s."""
    return {role: hf_generator(make_student(tok, seed), tok)
            for role, seed in (("qg", 1), ("qa", 2), ("model", 3))}


@pytest.fixture(scope="module")
def server(generators):
    app = create_app(generators, ServeConfig(max_new_tokens=BUDGET, timeout=60),
                     methods=["socratic", "unified"])
    with LiveServer(app) as live:
        yield live
