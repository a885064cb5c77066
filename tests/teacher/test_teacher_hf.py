"""`hf:PATH` with a tiny random GPT-2 built here: it writes garbage, and every sample of that
garbage is still parsed or rejected with a reason, in batches, and cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from socratic_distill.jsonl import read_jsonl
from socratic_distill.schemas import Annotation
from socratic_distill.teacher import annotate, make_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory) -> Path:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-gpt2")
    corpus = ["Q: How many apples? A: 2 + 3 = 5. Final answer: 5", "Problem: Tom has 2 apples.",
              "<|endoftext|>"] * 20
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=300, min_frequency=1,
                            special_tokens=["<|endoftext|>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer,
                                        eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tokenizer.save_pretrained(path)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=32, n_layer=2,
                        n_head=2, eos_token_id=tokenizer.eos_token_id,
                        bos_token_id=tokenizer.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(path)
    return path


def test_tiny_model_annotates_in_batches(problems, tiny_gpt2, tmp_path):
    prompt = tmp_path / "short.txt"
    prompt.write_text("=== user ===\nProblem: {{question}}\n=== stop ===\n\\nProblem:\n")
    out, cache = tmp_path / "out.jsonl", tmp_path / "cache.sqlite"
    config = make_config(teacher=f"hf:{tiny_gpt2}", prompt=prompt, samples=2, batch_size=6,
                         max_tokens=12, temperature=1.0, seed=3, cache=cache)
    summary = annotate(problems, config, out, progress=False)
    records = read_jsonl(out, Annotation)
    assert summary.complete and len(records) == 2 * len(problems)
    assert summary.requests == 2 * len(problems)
    for record in records:
        assert record.teacher == f"hf:{tiny_gpt2}" and record.completion is not None
        assert record.usage["completion_tokens"] <= 12 and record.usage["prompt_tokens"] > 0
        assert (record.reject_reason is None) == (record.correct is True)
        assert record.reject_reason is None or record.reject_reason.split(":")[0] in {
            "empty completion", "unparsable", "no final answer", "wrong answer", "arithmetic"}
    out.unlink()
    again = annotate(problems, config, out, progress=False)
    assert again.requests == 0 and again.cache_hits == 2 * len(problems)
    assert [r.completion for r in read_jsonl(out, Annotation)] == [r.completion for r in records]


def test_missing_model_is_a_clear_error(problems, tmp_path):
    from socratic_distill.errors import UserError

    config = make_config(teacher=f"hf:{tmp_path / 'no-such-model'}")
    with pytest.raises(UserError, match="cannot load the model"):
        annotate(problems, config, tmp_path / "out.jsonl", progress=False)
