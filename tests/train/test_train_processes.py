"""Training in child processes: surviving kill -9, and two-process DDP with torchrun (gloo, CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

SCRIPT = Path(__file__).with_name("run_train.py")


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _trainer_state(checkpoint: Path) -> dict:
    return json.loads((checkpoint / "trainer_state.json").read_text())


@pytest.mark.slow
def test_resume_after_kill_9(data_dir, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, str(SCRIPT), str(data_dir), str(out), "60", "10", "--sleep", "0.2"]
    child = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (out / "checkpoints" / "checkpoint-20" / "trainer_state.json").exists():
            assert child.poll() is None, "the training process ended before its second checkpoint"
            assert time.time() < deadline, "no checkpoint within 120 s"
            time.sleep(0.1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert not (out / "student.json").exists()

    subprocess.run([*command[:-2], "--resume"], env=_env(), check=True, capture_output=True)
    metadata = json.loads((out / "student.json").read_text())
    resumed_from = int(metadata["metrics"]["resumed_from"].split("-")[1])
    assert resumed_from >= 20
    assert metadata["metrics"]["global_step"] == 60
    # The resumed session ran only the remaining steps.
    assert (
        metadata["metrics"]["tokens"]
        < _trainer_state(out / "checkpoints" / "checkpoint-60")["num_input_tokens_seen"]
    )


@pytest.mark.slow
def test_torchrun_two_processes_write_the_same_kind_of_checkpoint(data_dir, tmp_path):
    world_file = tmp_path / "world"
    ddp_out, single_out = tmp_path / "ddp", tmp_path / "single"
    launch = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29533",
    ]
    result = subprocess.run(
        [*launch, str(SCRIPT), str(data_dir), str(ddp_out), "6", "3", "--world-file", str(world_file)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for rank in (0, 1):
        assert Path(f"{world_file}.{rank}").read_text() == "2 2"
    subprocess.run(
        [sys.executable, str(SCRIPT), str(data_dir), str(single_out), "6", "3"],
        env=_env(),
        check=True,
        capture_output=True,
    )

    def files(root: Path) -> set[str]:
        return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}

    # One process per rank saves its RNG state; everything else is the same set of files.
    assert {name for name in files(ddp_out) if "rng_state" not in name} == {
        name for name in files(single_out) if "rng_state" not in name
    }
    ddp, single = (json.loads((root / "student.json").read_text()) for root in (ddp_out, single_out))
    assert (ddp["world_size"], single["world_size"]) == (2, 1)
    ddp_model = AutoModelForCausalLM.from_pretrained(ddp_out)
    single_model = AutoModelForCausalLM.from_pretrained(single_out)
    assert {name: value.shape for name, value in ddp_model.state_dict().items()} == {
        name: value.shape for name, value in single_model.state_dict().items()
    }
    assert all(torch.isfinite(value).all() for value in ddp_model.state_dict().values())
