"""Fixtures for the teacher tests: problems, and the fault-injecting server on loopback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from socratic_distill.schemas import Problem

sys.path.insert(0, str(Path(__file__).parent))

from fake_openai import FakeOpenAI  # noqa: E402
from teacher_helpers import right_answer, sum_problem  # noqa: E402


@pytest.fixture
def problems() -> list[Problem]:
    return [sum_problem(index) for index in range(6)]


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(latency=0.02, responder=right_answer).start()
    try:
        yield fake
    finally:
        fake.stop()
