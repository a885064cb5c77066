"""Train scratch:tiny in a child process, for the kill -9 and torchrun tests.

python run_train.py DATA OUT MAX_STEPS SAVE_STEPS [--sleep S] [--resume] [--world-file F]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from socratic_distill.train import TrainConfig, train_student


class Slow(TrainerCallback):
    """Slows every step down so that a test can interrupt the run midway."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(self.seconds)


class RecordWorld(TrainerCallback):
    def __init__(self, path: Path):
        self.path = path

    def on_train_begin(self, args, state, control, **kwargs):
        world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
        Path(f"{self.path}.{args.process_index}").write_text(f"{args.world_size} {world}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("out")
    parser.add_argument("max_steps", type=int)
    parser.add_argument("save_steps", type=int)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--world-file")
    options = parser.parse_args()
    torch.set_num_threads(1)
    callbacks = [Slow(options.sleep)] if options.sleep else []
    if options.world_file:
        callbacks.append(RecordWorld(Path(options.world_file)))
    config = TrainConfig(
        max_steps=options.max_steps,
        save_steps=options.save_steps,
        logging_steps=5,
        batch_size=4,
        validation_fraction=0.1,
    )
    train_student(
        "answer",
        options.data,
        "scratch:tiny",
        options.out,
        config,
        resume=options.resume,
        callbacks=callbacks,
    )


if __name__ == "__main__":
    main()
