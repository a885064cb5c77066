"""Tiny students, backend wrappers and a live uvicorn server for the serving tests.

The students are the inference tests' tiny random GPT-2s (their tokenizer, their problems), with
a context window long enough for the teacher's few-shot prompts (the annotate test).
"""

from __future__ import annotations

import threading
import time

import torch
from infer_helpers import (
    SteeredGPT2,
    make_problems,
    make_tokenizer,
    save_student,
)
from transformers import GPT2Config, GPT2LMHeadModel

from socratic_distill.serve.background import BackgroundServer  # noqa: E402

__all__ = ["BUDGET", "Gate", "LiveServer", "Slow", "make_problems", "make_steered", "make_student",
           "make_tokenizer", "save_student", "word_tokens"]

POSITIONS = 2048
BUDGET = 10  # tokens per socratic line in the shared test server: short, so tests are fast


def _config(tokenizer) -> GPT2Config:
    return GPT2Config(
        vocab_size=len(tokenizer), n_positions=POSITIONS, n_embd=32, n_layer=2, n_head=2,
        initializer_range=0.3, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )


def make_student(tokenizer, seed: int = 0) -> GPT2LMHeadModel:
    """A random tiny GPT-2 (fp32): deterministic, and its greedy outputs vary by prompt."""
    torch.manual_seed(seed)
    return GPT2LMHeadModel(_config(tokenizer)).eval()


def word_tokens(tokenizer) -> list[int]:
    """Tokens that are plain letters: a model restricted to them never ends a line or a dialogue."""
    return [i for i in range(len(tokenizer))
            if tokenizer.decode([i]).strip().isalpha() and "END" not in tokenizer.decode([i])]


def make_steered(tokenizer, seed: int = 0) -> SteeredGPT2:
    """A tiny GPT-2 that only writes words: every socratic dialogue runs to `max_steps`."""
    torch.manual_seed(seed)
    return SteeredGPT2(_config(tokenizer), allowed=word_tokens(tokenizer)).eval()


class Slow:
    """Wraps a backend: sleeps `delay` seconds before each call; counts calls and rows."""

    def __init__(self, fn, delay: float = 0.0):
        self.fn, self.delay = fn, delay
        self.calls: list[int] = []

    def __call__(self, prompts, **settings):
        self.calls.append(len(prompts))
        if self.delay:
            time.sleep(self.delay)
        return self.fn(prompts, **settings)


class Gate(Slow):
    """Wraps a backend: each call waits until the gate is open (at most 20 s)."""

    def __init__(self, fn):
        super().__init__(fn)
        self.open = threading.Event()
        self.entered = threading.Event()

    def __call__(self, prompts, **settings):
        self.entered.set()
        self.open.wait(20)
        return super().__call__(prompts, **settings)


LiveServer = BackgroundServer  # uvicorn on a free loopback port, in a daemon thread
