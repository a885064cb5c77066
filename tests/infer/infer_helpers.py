"""Tiny random models and a tokenizer trained here, for fast inference tests (no downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from socratic_distill.formats import FORMAT_VERSION, socratic_layout
from socratic_distill.infer.generate import Generation
from socratic_distill.schemas import Problem, Step

EOS = "<|endoftext|>"


def make_problems(n: int = 6) -> list[Problem]:
    """Small arithmetic problems with gold Socratic steps, of varied lengths."""
    out = []
    for i in range(n):
        a, b, c = 3 + i, 4 + 2 * i, 2 + i % 3
        steps = [
            Step(subquestion=f"How many apples does Tom have after buying {b} more?",
                 solution=f"Tom has {a}+{b} = <<{a}+{b}={a + b}>>{a + b} apples.",
                 answer=str(a + b)),
            Step(subquestion="How many apples do they have" + " in all" * (i % 4) + "?",
                 solution=f"They have {a + b}*{c} = <<{a + b}*{c}={(a + b) * c}>>"
                          f"{(a + b) * c} apples.", answer=str((a + b) * c)),
        ][: 1 + i % 2]
        out.append(Problem(
            id=f"p{i}",
            question=f"Tom has {a} apples and buys {b} more" + ", happily" * (i % 3)
            + f". His {c} friends each have as many. How many apples?",
            answer=steps[-1].answer, gold_steps=steps,
            gold_cot=" ".join(step.solution for step in steps),
        ))
    return out


def make_tokenizer() -> PreTrainedTokenizerFast:
    texts = [socratic_layout(p.question, p.gold_steps).text for p in make_problems(12)]
    texts.append("<<12*3=36>> 0123456789 + - * / = Q: A: [END] #### \n")
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=raw, eos_token=EOS, pad_token=EOS)


def _config(tokenizer, layers: int, width: int, std: float) -> GPT2Config:
    return GPT2Config(
        vocab_size=len(tokenizer), n_positions=512, n_embd=width, n_layer=layers, n_head=2,
        initializer_range=std, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )


def make_model(tokenizer, seed: int = 0, layers: int = 2, width: int = 32, std: float = 0.3):
    """A random GPT-2 in fp32; a wide init spread makes greedy outputs varied and ties rare."""
    torch.manual_seed(seed)
    return GPT2LMHeadModel(_config(tokenizer, layers, width, std)).eval()


class SteeredGPT2(GPT2LMHeadModel):
    """A random GPT-2 whose choices are steered: `allowed` limits the vocabulary, `script` maps
    an absolute position to the token that must be generated there."""

    def __init__(self, config, allowed=None, script=None):
        super().__init__(config)
        self.allowed, self.script = allowed, dict(script or {})
        self.batch_sizes: list[int] = []

    def forward(self, input_ids=None, position_ids=None, **kwargs):
        self.batch_sizes.append(input_ids.shape[0])
        out = super().forward(input_ids=input_ids, position_ids=position_ids, **kwargs)
        logits = out.logits.clone()
        if self.allowed is not None:
            bias = torch.full((logits.shape[-1],), -1e9)
            bias[list(self.allowed)] = 0.0
            logits = logits + bias
        for row, position in enumerate((position_ids[:, -1] + 1).tolist()):
            if position in self.script:
                logits[row, -1, self.script[position]] = 1e9
        out.logits = logits
        return out


def make_steered(tokenizer, allowed=None, script=None, seed: int = 0) -> SteeredGPT2:
    torch.manual_seed(seed)
    return SteeredGPT2(_config(tokenizer, 2, 32, 0.3), allowed, script).eval()


def save_student(model, tokenizer, path: Path, task: str, version: int = FORMAT_VERSION) -> Path:
    """A student directory as `socratic_distill.train` writes it (model, tokenizer, student.json)."""
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / "student.json").write_text(json.dumps({"task": task, "format_version": version}))
    return path


def tiny_mistral(tok, sliding_window=None):
    """Llama-style layers (grouped-query attention, gated MLP), as SmolLM2's."""
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(5)
    config = MistralConfig(num_hidden_layers=2, hidden_size=64, intermediate_size=128,
                           num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tok),
                           sliding_window=sliding_window, initializer_range=0.3,
                           eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
    return MistralForCausalLM(config).eval()


class Scripted:
    """A fake backend: `reply(prompt) -> text`; records every call's prompts and settings."""

    def __init__(self, reply, finish="newline"):
        self.reply, self.finish, self.calls = reply, finish, []

    def __call__(self, prompts, **settings):
        self.calls.append((list(prompts), settings))
        return [Generation(self.reply(p), len(p), 3, self.finish) for p in prompts]
