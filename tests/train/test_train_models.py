"""Model specs: scratch sizes, local directories, GGUF files, and the errors for bad ones."""

from __future__ import annotations

import pytest
from train_helpers import arithmetic_examples

from socratic_distill.errors import UserError
from socratic_distill.train import find_smollm2_gguf, load_student
from socratic_distill.train.models import count_parameters, set_dropout

TEXTS = [example.text for example in arithmetic_examples()]


def test_scratch_tiny_is_a_small_gpt2_with_eos_and_pad():
    model, tokenizer = load_student("scratch:tiny", TEXTS)
    assert model.config.model_type == "gpt2"
    assert count_parameters(model) < 1_000_000
    assert tokenizer.eos_token == tokenizer.pad_token == "<|endoftext|>"
    assert model.config.vocab_size == len(tokenizer)
    assert model.config.eos_token_id == tokenizer.eos_token_id


def test_set_dropout_zero_makes_training_forwards_deterministic():
    import torch

    model, tokenizer = load_student("scratch:tiny", TEXTS)
    model.train()
    ids = tokenizer(TEXTS[0], return_tensors="pt").input_ids
    with torch.no_grad():
        assert not torch.equal(model(ids).logits, model(ids).logits)  # GPT-2's own 0.1
        assert set_dropout(model, 0.0) == 1 + 3 * model.config.n_layer  # embeddings; attn, resid, mlp
        assert torch.equal(model(ids).logits, model(ids).logits)


def test_scratch_activation_is_gpt2s_tanh_gelu():
    import torch
    from transformers.activations import ACT2FN

    model, _ = load_student("scratch:tiny", TEXTS)
    x = torch.linspace(-6, 6, 1001)
    fused = model.transformer.h[0].mlp.act(x)
    assert torch.allclose(fused, ACT2FN["gelu_new"](x), atol=1e-6)  # GPT-2's own GELU
    assert not torch.allclose(fused, torch.nn.functional.gelu(x), atol=1e-4)  # not the erf one


def test_scratch_llama_has_rotary_positions_and_gpt2s_budget():
    gpt2, _ = load_student("scratch:tiny", TEXTS)
    llama, tokenizer = load_student("scratch:tiny:llama", TEXTS)
    assert llama.config.model_type == "llama"
    assert not any("position" in name for name, _ in llama.named_parameters())  # RoPE: none learned
    assert llama.get_input_embeddings().weight is llama.get_output_embeddings().weight
    assert (llama.config.num_hidden_layers, llama.config.hidden_size) == (2, 128)
    assert llama.config.eos_token_id == llama.config.pad_token_id == tokenizer.eos_token_id
    # Same layers and width, so the same budget but for GPT-2's learned position table.
    positions = gpt2.transformer.wpe.weight.numel()
    assert 0.9 < count_parameters(llama) / (count_parameters(gpt2) - positions) < 1.1


def test_scratch_bloom_has_alibi_and_nope_has_no_positions():
    bloom, tokenizer = load_student("scratch:tiny:bloom", TEXTS)
    nope, _ = load_student("scratch:tiny:nope", TEXTS)
    assert (bloom.config.model_type, nope.config.model_type) == ("bloom", "gpt_neox")
    assert nope.config.rope_parameters["partial_rotary_factor"] == 0  # no dimension rotates
    for model in (bloom, nope):
        assert not any("position" in name for name, _ in model.named_parameters())
        assert model.get_input_embeddings().weight is model.get_output_embeddings().weight
        assert model.config.eos_token_id == model.config.pad_token_id == tokenizer.eos_token_id
        assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 128


@pytest.mark.parametrize("architecture", ["bloom", "nope"])
def test_scratch_models_without_learned_positions_ignore_left_padding(architecture, tmp_path):
    import torch

    model, tokenizer = load_student(f"scratch:tiny:{architecture}", TEXTS)
    model.eval()
    # Batched solving pads on the left: neither ALiBi's distances nor NoPE's attention may count it.
    short = tokenizer(TEXTS[0])["input_ids"]
    long = tokenizer(TEXTS[0] + " " + TEXTS[1])["input_ids"]
    pad = len(long) - len(short)
    ids = torch.tensor([[tokenizer.pad_token_id] * pad + short, long])
    mask = torch.tensor([[0] * pad + [1] * len(short), [1] * len(long)])
    with torch.no_grad():
        padded = model(input_ids=ids, attention_mask=mask).logits[0, pad:]
        alone = model(input_ids=torch.tensor([short])).logits[0]
    assert torch.allclose(padded, alone, atol=1e-5)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    reloaded, _ = load_student(str(tmp_path))
    with torch.no_grad():
        assert torch.allclose(reloaded.eval()(input_ids=torch.tensor([short])).logits[0], alone)


@pytest.mark.parametrize("architecture", ["llama", "bloom", "nope"])
def test_scratch_architectures_train_a_step(architecture):
    import torch

    torch.manual_seed(0)
    model, tokenizer = load_student(f"scratch:tiny:{architecture}", TEXTS)
    batch = tokenizer(TEXTS[:4], return_tensors="pt", padding=True)
    # 1e-2 can make NoPE's first steps climb (3 of 30 initialisations); 1e-3 falls from all 30.
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        loss = model(**batch, labels=batch["input_ids"]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5


def test_a_saved_model_directory_loads(tmp_path):
    model, tokenizer = load_student("scratch:tiny", TEXTS)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    reloaded, retokenizer = load_student(str(tmp_path))
    assert retokenizer(TEXTS[0])["input_ids"] == tokenizer(TEXTS[0])["input_ids"]
    assert count_parameters(reloaded) == count_parameters(model)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("scratch:huge", "unknown size"),
        ("scratch:tiny:mamba", "unknown architecture `mamba` \\(choose one of gpt2, llama, bloom, nope\\)"),
        ("./no/such/model", "no such model directory"),
        ("missing.gguf", "no such GGUF file"),
    ],
)
def test_bad_specs_are_user_errors(spec, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=message):
        load_student(spec, TEXTS)


def test_a_directory_without_config_is_refused(tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        load_student(str(tmp_path))


def test_an_unreadable_gguf_is_refused(tmp_path):
    (tmp_path / "broken.gguf").write_bytes(b"not a gguf file at all")
    with pytest.raises(UserError, match="not a readable GGUF model|needs the `gguf` package"):
        load_student(str(tmp_path / "broken.gguf"))


def test_an_unknown_hub_id_is_a_user_error(monkeypatch):
    import huggingface_hub.constants

    # Offline, the hub lookup fails at once instead of retrying for a minute.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError, match="not loadable as a Hugging Face model id"):
        load_student("nobody-xyz/no-such-model")


def test_find_smollm2_gguf_finds_a_gguf_file_or_none():
    path = find_smollm2_gguf()
    assert path is None or (path.suffix == ".gguf" and path.is_file())
