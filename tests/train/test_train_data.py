"""Loss masks from character spans, eos, truncation, the split and the collator."""

from __future__ import annotations

import random

import pytest
from train_helpers import arithmetic_examples

from socratic_distill.errors import UserError
from socratic_distill.formats import FORMAT_VERSION
from socratic_distill.jsonl import write_jsonl
from socratic_distill.schemas import TrainingExample
from socratic_distill.train.data import (
    IGNORE_INDEX,
    PadCollator,
    PairCollator,
    padding_fraction,
    read_training_set,
    split_examples,
    tokenize_example,
    tokenize_examples,
    verdict_pairs,
)
from socratic_distill.train.models import train_scratch_tokenizer

TEXT = (
    "Question: Sam has 12 apples and buys 30 more. How many now?\n"
    "Q: How many apples are bought? A: 30 apples.\n"
    "Q: How many in total? A: 12 + 30 = 42 apples. #### 42\n"
)


def _spans(text: str, parts: list[str]) -> list[tuple[int, int]]:
    spans = []
    for part in parts:
        start = text.index(part)
        spans.append((start, start + len(part)))
    return spans


@pytest.fixture(scope="module")
def tokenizer():
    texts = [TEXT] + [example.text for example in arithmetic_examples()]
    return train_scratch_tokenizer(texts * 3, vocab_size=400)


def _example(text: str, spans: list[tuple[int, int]]) -> TrainingExample:
    return TrainingExample(id="x", task="qa", text=text, loss_spans=spans, format_version=FORMAT_VERSION)


def _trained_runs(feature: dict, tokenizer) -> list[str]:
    """Decode each maximal run of trained tokens."""
    runs, current = [], []
    for token, label in zip(feature["input_ids"], feature["labels"], strict=True):
        if label == IGNORE_INDEX:
            if current:
                runs.append(current)
            current = []
        else:
            assert label == token
            current.append(token)
    if current:
        runs.append(current)
    return [tokenizer.decode(run) for run in runs]


def test_labels_cover_exactly_the_loss_spans(tokenizer):
    parts = [" 30 apples.\n", " How many in total?"]
    feature = tokenize_example(_example(TEXT, _spans(TEXT, parts)), tokenizer, max_length=512)
    assert _trained_runs(feature, tokenizer) == parts
    assert feature["input_ids"][-1] == tokenizer.eos_token_id
    assert feature["labels"][-1] == IGNORE_INDEX  # text follows the last span: no stop there


def test_eos_is_trained_when_the_last_span_ends_the_text(tokenizer):
    completion = " 12 + 30 = 42 apples. #### 42\n"
    example = _example(TEXT, _spans(TEXT, [completion]))
    # The span reaches the end of TEXT, so the student learns to stop there.
    feature = tokenize_example(example, tokenizer, max_length=512)
    assert feature["labels"][-1] == tokenizer.eos_token_id
    assert _trained_runs(feature, tokenizer) == [completion + tokenizer.eos_token]


def test_a_token_partly_inside_a_span_is_trained(tokenizer):
    start = TEXT.index("apples are") + 2  # inside the word
    feature = tokenize_example(_example(TEXT, [(start, start + 1)]), tokenizer, max_length=512)
    assert sum(label != IGNORE_INDEX for label in feature["labels"]) >= 1
    assert "apples" in "".join(_trained_runs(feature, tokenizer))


def test_digits_are_single_tokens(tokenizer):
    ids = tokenizer("12345")["input_ids"]
    assert [tokenizer.decode([token]) for token in ids] == list("12345")


def test_truncation_and_dropping_are_counted(tokenizer):
    late = _example(TEXT, _spans(TEXT, ["#### 42\n"]))
    early = _example(TEXT, _spans(TEXT, ["Question:"]))
    features, stats = tokenize_examples([late, early], tokenizer, max_length=10)
    assert stats.truncated == 2
    assert stats.dropped_untrained == 1 and stats.kept == 1
    assert all(len(feature["input_ids"]) == 10 for feature in features)


def test_keep_end_truncation_keeps_a_closing_label(tokenizer):
    # A verifier's verdict closes its text: truncated from the right it would be lost.
    verdict = _example(TEXT, _spans(TEXT, ["#### 42\n"]))
    (feature,), stats = tokenize_examples([verdict], tokenizer, max_length=10, keep_end=True)
    full = tokenize_example(verdict, tokenizer, max_length=10_000)
    assert stats.truncated == 1 and stats.kept == 1
    assert feature["input_ids"] == full["input_ids"][-10:]
    assert feature["labels"][-1] != IGNORE_INDEX


def test_collator_pads_right_and_ignores_padding():
    batch = PadCollator(pad_token_id=0)(
        [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_padding_fraction():
    assert padding_fraction([4, 4, 2], [[0, 1], [2]]) == 0.0
    assert padding_fraction([4, 2], [[0, 1]]) == 0.25


def test_split_is_deterministic_and_by_problem():
    examples = arithmetic_examples(n=40)
    examples += [example.model_copy(update={"text": example.text + " again"}) for example in examples]
    train, validation = split_examples(examples, 0.1, seed=1)
    assert (train, validation) == split_examples(examples, 0.1, seed=1)
    assert len({e.id for e in validation}) == 4
    assert not {e.id for e in train} & {e.id for e in validation}
    assert split_examples(examples, 0.0, seed=1)[1] == []


def test_read_training_set_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        read_training_set(tmp_path / "answer.jsonl", "answer")
    (tmp_path / "answer.jsonl").write_text("")
    with pytest.raises(UserError, match="empty"):
        read_training_set(tmp_path / "answer.jsonl", "answer")
    (tmp_path / "answer.jsonl").write_text('{"id": "x"}\n')
    with pytest.raises(UserError, match=r"answer.jsonl:1:"):
        read_training_set(tmp_path / "answer.jsonl", "answer")
    write_jsonl(tmp_path / "answer.jsonl", arithmetic_examples("cot", 2))
    with pytest.raises(UserError, match="task `cot`, not `answer`"):
        read_training_set(tmp_path / "answer.jsonl", "answer")


def test_length_grouped_sampler_keeps_padding_low_on_a_small_set():
    import torch
    from transformers.trainer_pt_utils import get_length_grouped_indices

    from socratic_distill.train.data import LengthGroupedSampler, padding_fraction

    lengths = [random.Random(i).randint(40, 500) for i in range(70)]
    torch.manual_seed(0)
    first, second = list(LengthGroupedSampler(lengths, 8)), list(LengthGroupedSampler(lengths, 8))

    assert sorted(first) == list(range(70))  # every example exactly once
    assert first != second  # a new order each epoch
    ours = [first[i : i + 8] for i in range(0, 70, 8)]
    stock = get_length_grouped_indices(lengths, 8, generator=torch.Generator().manual_seed(0))
    theirs = [stock[i : i + 8] for i in range(0, 70, 8)]
    assert padding_fraction(lengths, ours) < 0.5 * padding_fraction(lengths, theirs)


def _verdict_example(problem: str, solution: str, right: bool) -> TrainingExample:
    prompt = f"Question: {problem}\n{solution}\nVerdict:"
    verdict = " yes\n" if right else " no\n"
    return TrainingExample(id=problem, task="verifier", text=prompt + verdict,
                           loss_spans=[(len(prompt), len(prompt) + len(verdict))],
                           format_version=FORMAT_VERSION)


def test_verdict_pairs_match_every_right_solution_with_every_wrong_one_of_its_problem():
    examples = [
        _verdict_example("What is 2 plus 3?", "A: 5", True),
        _verdict_example("What is 2 plus 3?", "A: 2 + 3 = 5", True),
        _verdict_example("What is 2 plus 3?", "A: 6", False),
        _verdict_example("What is 4 plus 1?", "A: 5", True),  # no wrong one: no pair
        _verdict_example("What is 1 plus 1?", "A: 3", False),  # no right one: no pair
    ]
    tokenizer = train_scratch_tokenizer([e.text for e in examples] * 20, vocab_size=300)
    verdicts = tuple(tokenizer(f" {word}", add_special_tokens=False)["input_ids"][0]
                     for word in ("yes", "no"))
    pairs = verdict_pairs(examples, tokenizer, 64, verdicts)
    assert len(pairs) == 2
    chosen = {tokenizer.decode(pair["input_ids"]) for pair in pairs}
    assert all("2 plus 3" in text for text in chosen) and len(chosen) == 2
    for pair in pairs:
        for side, verdict in (("", verdicts[0]), ("rejected_", verdicts[1])):
            labels = pair[f"{side}labels"]
            trained = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
            assert len(trained) == 1  # the verdict token alone: not its newline, not eos
            assert labels[trained[0]] == pair[f"{side}input_ids"][trained[0]] == verdict

    batch = PairCollator(tokenizer.pad_token_id)(pairs)
    assert batch["input_ids"].shape[0] == 4  # right sides first, then their wrong ones
    rows = (batch["labels"] != IGNORE_INDEX).nonzero()[:, 0].tolist()
    assert rows == [0, 1, 2, 3]
    assert batch["labels"][2:].max().item() == verdicts[1]

    short = verdict_pairs(examples, tokenizer, 3, verdicts)  # left-truncated: the verdicts stay
    assert len(short) == 2 and all(len(pair["input_ids"]) == 3 for pair in short)
    with pytest.raises(UserError, match="What is 2 plus 3.*no ` yes` or ` no` verdict"):
        verdict_pairs(examples, tokenizer, 64, verdicts[::-1][:1] + (-1,))
