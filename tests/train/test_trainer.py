"""train_student end to end on scratch:tiny: it learns, saves, reloads, resumes and refuses."""

from __future__ import annotations

import json

import pytest
import torch
from train_helpers import arithmetic_examples, write_training_set
from transformers import AutoModelForCausalLM, TrainerCallback

from socratic_distill.errors import UserError
from socratic_distill.formats import FORMAT_VERSION
from socratic_distill.train import TrainConfig, load_trained, train_student
from socratic_distill.train.outdir import last_complete_checkpoint


class Recorder(TrainerCallback):
    """Keeps the initial weights, the logged losses and the steps that ran."""

    def __init__(self):
        self.initial, self.losses, self.steps = None, [], []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.initial = {name: value.detach().clone() for name, value in model.state_dict().items()}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(logs["loss"])

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


class CrashAfterCheckpoint(TrainerCallback):
    """Simulates an interrupt right after checkpoint `step` is on disk."""

    def __init__(self, step):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt("simulated interrupt")


def test_tiny_model_learns_saves_and_reloads(data_dir, tmp_path, fast_config):
    recorder = Recorder()
    out = train_student(
        "answer", data_dir, "scratch:tiny", tmp_path / "out", fast_config, callbacks=[recorder]
    )

    assert recorder.losses[-1] < recorder.losses[0] - 1.0
    trained = AutoModelForCausalLM.from_pretrained(out)
    changed = [
        name for name, value in trained.state_dict().items() if not torch.equal(value, recorder.initial[name])
    ]
    assert len(changed) == len(recorder.initial)

    model, tokenizer, metadata = load_trained(out)
    assert metadata["task"] == "answer" and metadata["format_version"] == FORMAT_VERSION
    assert metadata["base_model"] == "scratch:tiny"
    assert metadata["metrics"]["global_step"] == 30
    assert metadata["metrics"]["tokens_per_second"] > 0
    assert metadata["metrics"]["best_val_loss"] is not None
    assert len(metadata["data"]["sha256"]) == 64
    assert metadata["config"]["learning_rate"] == 5e-4  # the scratch default, resolved
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in out.iterdir()}


def test_resume_continues_from_the_last_checkpoint(data_dir, tmp_path, fast_config):
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        train_student(
            "answer", data_dir, "scratch:tiny", out, fast_config, callbacks=[CrashAfterCheckpoint(20)]
        )
    assert not (out / "student.json").exists()  # visibly incomplete
    assert last_complete_checkpoint(out / "checkpoints").name == "checkpoint-20"

    recorder = Recorder()
    train_student("answer", data_dir, "scratch:tiny", out, fast_config, resume=True, callbacks=[recorder])
    assert recorder.steps == list(range(21, 31))  # no finished step repeated
    metadata = json.loads((out / "student.json").read_text())
    assert metadata["metrics"]["resumed_from"] == "checkpoint-20"
    assert metadata["metrics"]["global_step"] == 30


def test_every_checkpoint_is_a_student_that_solve_loads(data_dir, tmp_path, fast_config):
    from socratic_distill.infer.run import check_student

    out = train_student("answer", data_dir, "scratch:tiny", tmp_path / "out", fast_config)
    final = json.loads((out / "student.json").read_text())
    checkpoints = sorted((out / "checkpoints").glob("checkpoint-*"))
    assert checkpoints
    for checkpoint in checkpoints:
        model, tokenizer, metadata = load_trained(checkpoint)
        step = int(checkpoint.name.split("-")[1])
        assert metadata["checkpoint"]["global_step"] == step and metadata["checkpoint"]["max_steps"] == 30
        assert 0 < metadata["checkpoint"]["tokens"] < final["metrics"]["tokens"] * (step + 1) / 30
        assert {k: v for k, v in metadata.items() if k != "checkpoint"} == {
            k: v for k, v in final.items() if k not in ("metrics", "versions", "parameters")
        }
        check_student(metadata, ["answer"], "--model", checkpoint)
        assert model.num_parameters() == final["parameters"]


def test_a_checkpoint_interrupted_while_saving_is_no_student(data_dir, tmp_path, fast_config):
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):  # raised by a callback that runs before ours
        train_student(
            "answer", data_dir, "scratch:tiny", out, fast_config, callbacks=[CrashAfterCheckpoint(20)]
        )
    assert (out / "checkpoints" / "checkpoint-10" / "student.json").is_file()
    assert not (out / "checkpoints" / "checkpoint-20" / "student.json").exists()


def test_resume_skips_a_half_written_checkpoint(data_dir, tmp_path, fast_config):
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        train_student(
            "answer", data_dir, "scratch:tiny", out, fast_config, callbacks=[CrashAfterCheckpoint(20)]
        )
    (out / "checkpoints" / "checkpoint-20" / "trainer_state.json").write_text('{"trunc')
    assert last_complete_checkpoint(out / "checkpoints").name == "checkpoint-10"
    recorder = Recorder()
    train_student("answer", data_dir, "scratch:tiny", out, fast_config, resume=True, callbacks=[recorder])
    assert recorder.steps[0] == 11 and recorder.steps[-1] == 30


def test_output_directory_is_refused_for_another_task_or_without_resume(data_dir, tmp_path):
    config = TrainConfig(max_steps=2, save_steps=1, validation_fraction=0)
    out = tmp_path / "out"
    train_student("answer", data_dir, "scratch:tiny", out, config)
    with pytest.raises(UserError, match="already holds a training run for task `answer`"):
        train_student("answer", data_dir, "scratch:tiny", out, config)
    write_training_set(data_dir, arithmetic_examples("cot"), task="cot")
    with pytest.raises(UserError, match="trained for task `answer`, not `cot`"):
        train_student("cot", data_dir, "scratch:tiny", out, config, resume=True)


def test_a_foreign_directory_is_never_written_into(data_dir, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    for resume in (False, True):
        with pytest.raises(UserError, match="not a training output directory"):
            train_student(
                "answer", data_dir, "scratch:tiny", foreign, TrainConfig(max_steps=1), resume=resume
            )


@pytest.mark.parametrize(
    ("setup", "task", "model", "message"),
    [
        ("missing", "answer", "scratch:tiny", "no such file"),
        ("empty", "answer", "scratch:tiny", "empty training set"),
        ("cot", "answer", "scratch:tiny", "is for task `cot`, not `answer`"),
        ("good", "answer", "scratch:enormous", "unknown size"),
    ],
)
def test_bad_inputs_are_user_errors(tmp_path, setup, task, model, message):
    data = tmp_path / "data"
    data.mkdir()
    if setup == "empty":
        (data / "answer.jsonl").write_text("")
    elif setup == "cot":
        write_training_set(data, arithmetic_examples("cot", 3), task="answer")
    elif setup == "good":
        write_training_set(data, arithmetic_examples("answer", 3))
    with pytest.raises(UserError, match=message):
        train_student(task, data, model, tmp_path / "out", TrainConfig(max_steps=1))


def test_config_rejects_unknown_keys_and_mismatched_steps():
    with pytest.raises(ValueError, match="extra"):
        TrainConfig(epochz=3)
    with pytest.raises(ValueError, match="multiple of eval_steps"):
        TrainConfig(save_steps=10, eval_steps=3)


def test_lora_adapters_are_merged_into_a_plain_model(data_dir, tmp_path):
    from socratic_distill.train import load_student

    base_dir = tmp_path / "base"
    base, tokenizer = load_student("scratch:tiny", [example.text for example in arithmetic_examples()])
    base.save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    config = TrainConfig(max_steps=10, save_steps=5, lora=True, lora_r=4, validation_fraction=0.1)
    out = train_student("answer", data_dir, str(base_dir), tmp_path / "out", config)

    assert not (out / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(out).state_dict()
    assert merged.keys() == base.state_dict().keys()
    changed = [name for name, value in base.state_dict().items() if not torch.equal(value, merged[name])]
    assert any("attn" in name for name in changed)
    assert json.loads((out / "student.json").read_text())["config"]["learning_rate"] == 2e-4


class DropoutRecorder(TrainerCallback):
    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.probabilities = {name: module.p for name, module in model.named_modules()
                              if isinstance(module, torch.nn.Dropout)}


def test_dropout_applies_to_the_model_and_leaves_loras_own(data_dir, tmp_path):
    from socratic_distill.train import load_student

    base_dir = tmp_path / "base"
    base, tokenizer = load_student("scratch:tiny", [example.text for example in arithmetic_examples()])
    base.save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    recorder = DropoutRecorder()
    config = TrainConfig(max_steps=2, save_steps=2, validation_fraction=0.0, dropout=0.0,
                         lora=True, lora_r=4, lora_dropout=0.2)
    out = train_student("answer", data_dir, str(base_dir), tmp_path / "out", config, callbacks=[recorder])

    lora = {name: p for name, p in recorder.probabilities.items() if "lora_dropout" in name}
    model = {name: p for name, p in recorder.probabilities.items() if name not in lora}
    assert lora and set(lora.values()) == {0.2}
    assert len(model) == 7 and set(model.values()) == {0.0}  # GPT-2's own 0.1 everywhere before
    assert json.loads((out / "student.json").read_text())["config"]["dropout"] == 0.0


@pytest.mark.parametrize(("avx512_bf16", "amx"), [(True, False), (False, True), (False, False)])
def test_bf16_auto_on_a_cpu_follows_native_support(monkeypatch, avx512_bf16, amx):
    from socratic_distill.train import arguments

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(arguments, "_has_accelerator", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert arguments.use_bf16("auto") is (avx512_bf16 or amx)
    assert arguments.use_bf16(True) is True and arguments.use_bf16(False) is False


def test_bf16_on_cpu_comes_with_use_cpu(tmp_path):
    from socratic_distill.train.arguments import build_training_args

    args = build_training_args(TrainConfig(bf16=True), tmp_path, scratch=True, has_validation=False)
    assert args.bf16 and (args.use_cpu or torch.cuda.is_available())
    assert not build_training_args(TrainConfig(bf16=False), tmp_path, True, False).bf16
