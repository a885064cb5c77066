"""Fixtures for the teacher tests: problems, and the fault-injecting server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_openai import FakeOpenAI
from teacher_helpers import right_answer, sum_problem

from socratic_distill.schemas import Problem


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
