"""The output directory of a training run: refuse what is not ours, resume what is.

OUT holds `train_run.json` (task, base model, data hash: what the checkpoints belong to),
`checkpoints/checkpoint-N` (the Trainer's), and at the end the model files and `student.json`.
A full-weight checkpoint gets a `student.json` of its own (its step under `checkpoint`), so
`solve` and `evaluate` read it as they read the final student: a learning curve is a loop.
A checkpoint is complete when its `trainer_state.json`, which the Trainer writes last, reads
back whole; a kill -9 while saving leaves an incomplete one, which resuming skips and removes.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from socratic_distill.errors import UserError
from socratic_distill.jsonl import atomic_writer

logger = logging.getLogger(__name__)

STUDENT_FILE = "student.json"
RUN_FILE = "train_run.json"
CHECKPOINTS = "checkpoints"


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_student_file(student_dir: str | Path, where: str = "") -> dict[str, Any]:
    """The `student.json` of a trained student directory; a missing or bad one is a UserError
    (prefixed by `where`, e.g. the flag that named the directory)."""
    prefix = f"{where}: " if where else ""
    path = Path(student_dir) / STUDENT_FILE
    if not path.is_file():
        raise UserError(f"{prefix}{student_dir} has no {STUDENT_FILE}: not a trained student directory")
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{prefix}{path}: invalid JSON ({error})") from None
    if not isinstance(metadata, dict):
        raise UserError(f"{prefix}{path}: expected a JSON object")
    return metadata


def last_complete_checkpoint(checkpoints: Path) -> Path | None:
    """The newest checkpoint whose trainer state (written last) reads back whole."""
    found = sorted(
        (path for path in checkpoints.glob("checkpoint-*") if path.name.split("-")[-1].isdigit()),
        key=lambda path: int(path.name.split("-")[-1]),
        reverse=True,
    )
    for path in found:
        if read_json(path / "trainer_state.json") is not None:
            return path
        logger.warning("%s: incomplete checkpoint (interrupted while saving), skipped", path)
    return None


def check_out_dir(out_dir: Path, run: dict[str, str], resume: bool) -> Path | None:
    """Refuse to mix runs; return the checkpoint to resume from, if any."""
    recorded = read_json(out_dir / RUN_FILE) or read_json(out_dir / STUDENT_FILE)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: is a file; the output must be a directory")
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return None
    if recorded is None:
        raise UserError(
            f"{out_dir}: already holds files and is not a training output directory (no {RUN_FILE}); "
            "choose another output directory"
        )
    if not resume:
        raise UserError(
            f"{out_dir}: already holds a training run for task `{recorded.get('task')}`; resume it "
            "(--resume) or choose another output directory"
        )
    if recorded.get("task") != run["task"]:
        raise UserError(
            f"{out_dir}: trained for task `{recorded.get('task')}`, not `{run['task']}`; "
            "choose another output directory"
        )
    if recorded.get("base_model") != run["base_model"]:
        raise UserError(
            f"{out_dir}: trained from model `{recorded.get('base_model')}`, not `{run['base_model']}`"
        )
    if recorded.get("data_sha256") != run["data_sha256"]:
        logger.warning("%s: the training data changed since this run started", out_dir)
    checkpoint = last_complete_checkpoint(out_dir / CHECKPOINTS)
    if checkpoint is None:
        logger.warning("%s: no complete checkpoint to resume from; starting from step 0", out_dir)
    else:
        logger.info("resuming from %s", checkpoint)
    return checkpoint


def start_run(out_dir: Path, run: dict[str, str], checkpoint: Path | None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    # Until the new student.json is written, the directory must not look complete.
    (out_dir / STUDENT_FILE).unlink(missing_ok=True)
    if checkpoint is not None:  # newer, half-written checkpoints would confuse the Trainer
        for path in checkpoint.parent.glob("checkpoint-*"):
            if path.name.split("-")[-1].isdigit() and int(path.name.split("-")[-1]) > int(
                checkpoint.name.split("-")[-1]
            ):
                shutil.rmtree(path)
    with atomic_writer(out_dir / RUN_FILE) as handle:
        json.dump(run, handle, indent=2)


def main_process_writes(args: Any, write: Any) -> None:
    """Run `write` on the main process only, after every process has done its checks."""
    from accelerate import PartialState

    state = PartialState()
    state.wait_for_everyone()
    if args.process_index == 0:
        write()
    state.wait_for_everyone()


def checkpoint_student_callback(metadata: dict[str, Any]) -> Any:
    """A TrainerCallback that writes `student.json` into each checkpoint after the Trainer's
    own files (so an interrupted save never looks like a student); main process only."""
    from transformers import TrainerCallback

    class CheckpointStudent(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            directory = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if not state.is_world_process_zero or not (directory / "config.json").is_file():
                return
            checkpoint = {"global_step": state.global_step, "max_steps": state.max_steps,
                          "epoch": round(state.epoch or 0.0, 4),
                          "tokens": state.num_input_tokens_seen}
            with atomic_writer(directory / STUDENT_FILE) as handle:
                json.dump(metadata | {"checkpoint": checkpoint}, handle, indent=2)

    return CheckpointStudent()
