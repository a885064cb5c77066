"""Train/test overlap: training problems that share an n-gram of words with an evaluation problem.

The check open-r1's `scripts/decontaminate.py` makes against benchmarks: questions lower-cased,
punctuation dropped, split into words, and a training problem counts as contaminated when any
8 consecutive words of it also occur in some evaluation problem. A question shorter than the
n-gram is one gram of its own, so an identical short question is still caught.

Template-generated problems (the synthetic benchmark) share phrasing by construction, so their
count measures the templates, not leaked test problems.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from socratic_distill.schemas import Problem

NGRAM = 8  # open-r1's default, and the GPT-3 paper's order of magnitude (13)
_WORD = re.compile(r"[^\W_]+")  # runs of letters and digits: punctuation and `_` separate words


class Overlap(BaseModel):
    """How many training problems share an n-gram with one evaluation split."""

    model_config = ConfigDict(extra="forbid")

    against: str = Field(description="The evaluation dataset spec checked against.")
    ngram: int
    train_problems: int = Field(description="Training problems checked.")
    sharing: int = Field(description="Training problems sharing at least one n-gram.")
    dropped: bool = Field(description="Whether those problems were left out of training.")
    examples: list[str] = Field(default_factory=list, description="A few of their ids.")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngrams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    tokens = words(text)
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def sharing_ids(train: Iterable[Problem], evaluation: Iterable[Problem], n: int = NGRAM) -> list[str]:
    """Ids of the training problems whose question shares an n-gram with an evaluation question."""
    seen: set[tuple[str, ...]] = set()
    for problem in evaluation:
        seen |= ngrams(problem.question, n)
    return [problem.id for problem in train if not seen.isdisjoint(ngrams(problem.question, n))]


def check_overlap(
    train: list[Problem], evaluations: dict[str, list[Problem]], *, n: int = NGRAM,
    drop: bool = False,
) -> tuple[list[Overlap], dict[str, list[str]]]:
    """One overlap record per evaluation split (keyed by its dataset spec), and the ids each names."""
    records, ids = [], {}
    for against, problems in evaluations.items():
        ids[against] = sharing_ids(train, problems, n)
        records.append(Overlap(against=against, ngram=n, train_problems=len(train),
                               sharing=len(ids[against]), dropped=drop, examples=ids[against][:5]))
    return records, ids


def format_overlap(record: Overlap) -> str:
    share = record.sharing / record.train_problems if record.train_problems else 0.0
    action = "dropped" if record.dropped else "kept (--drop-contaminated leaves them out)"
    return (f"{record.sharing} of {record.train_problems} training problems ({100 * share:.1f}%) "
            f"share a run of {record.ngram} words with {record.against}: {action}")
