"""`solve_to_file`: solve a dataset into a predictions JSONL, resumable and data-parallel.

Predictions are appended to `OUT.partial` batch by batch as they complete; at the end `OUT` is
written atomically in the problems' order and the partial file removed. `resume=True` keeps
what a partial file holds (errors are retried) and solves the rest only; without it an existing
partial file is an error, so that no run silently mixes with an older one.

Launched by torchrun, every rank solves its share of the unsolved problems into its own
`OUT.partial.rankR`, and rank 0 merges them after a barrier:

    torchrun --nproc_per_node 4 -m socratic_distill solve --method socratic ...

The CLI's part, in three calls:

    generators = load_generators("socratic", {"qg": qg_dir, "qa": qa_dir}, backend="hf")
    config = make_config(method="socratic", temperature=0.7, samples=5)
    accuracy = solve_to_file(problems, out, generators, config, resume=resume)
"""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from socratic_distill.errors import UserError
from socratic_distill.eval.evaluate import evaluate_predictions
from socratic_distill.formats import FORMAT_VERSION
from socratic_distill.infer.config import SolveConfig
from socratic_distill.infer.generate import GenerateFn, hf_generator
from socratic_distill.infer.solvers import solve
from socratic_distill.infer.verifier import Scorer
from socratic_distill.jsonl import append_jsonl, drop_torn_tail, write_jsonl
from socratic_distill.methods import ROLE_FLAGS, ROLES, TASK_DESCRIPTIONS
from socratic_distill.schemas import Prediction, Problem
from socratic_distill.train.outdir import read_student_file

log = logging.getLogger(__name__)



# ---- students ----


def check_student(
    metadata: Mapping[str, Any], expected_tasks: Sequence[str], flag: str, path: str | Path
) -> None:
    """Refuse a student trained for another task or on another format version."""
    task = metadata.get("task")
    if task not in expected_tasks:
        what = f"a `{task}` student ({TASK_DESCRIPTIONS[task]})" if task in TASK_DESCRIPTIONS else \
            f"a student of unknown task `{task}`"
        wanted = " or ".join(f"`{t}`" for t in expected_tasks)
        raise UserError(f"{flag}: {path} is {what}; expected a {wanted} student")
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise UserError(
            f"{flag}: {path} was trained on format_version {version}, this version reads"
            f" {FORMAT_VERSION}: retrain it, or solve with the version that trained it"
        )


def load_generators(
    method: str,
    dirs: Mapping[str, str | Path | None],
    *,
    backend: str = "hf",
    guidance: str = "model",
) -> dict[str, GenerateFn]:
    """Check and load the students a method needs; `dirs` maps roles (model, qg, qa) to dirs."""
    roles = dict(ROLES[method])
    if guidance == "gold":
        roles.pop("qg", None)
    generators: dict[str, GenerateFn] = {}
    for role, tasks in roles.items():
        path = dirs.get(role)
        if path is None:
            raise UserError(f"method `{method}` needs {ROLE_FLAGS[role]} DIR (a `{tasks[0]}` student)")
        check_student(read_student_file(path, ROLE_FLAGS[role]), tasks, ROLE_FLAGS[role], path)
        generators[role] = _load_backend(Path(path), backend)
    return generators


def _load_backend(path: Path, backend: str) -> GenerateFn:
    if backend == "vllm":
        from socratic_distill.infer.vllm_backend import vllm_generator

        return vllm_generator(path)
    if backend != "hf":
        raise UserError(f"--backend must be hf or vllm, got `{backend}`")
    import torch

    from socratic_distill.train import load_trained

    model, tokenizer, _ = load_trained(path)
    if torch.cuda.is_available():
        model = model.to(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    return hf_generator(model, tokenizer)


# ---- data parallelism (torchrun) ----


class _Ranks:
    """This process's rank and world size, and a barrier across them (gloo)."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.started = False
        if self.world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("gloo")
                self.started = True

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.started:
            import torch.distributed as dist

            dist.destroy_process_group()


# ---- partial files ----


def _partials(out: Path) -> list[Path]:
    if not out.parent.is_dir():
        return []
    prefix = f"{out.name}.partial"
    return sorted(p for p in out.parent.iterdir() if p.name.startswith(prefix) and p.is_file())


def _read_partial(path: Path) -> list[Prediction]:
    """The predictions of a partial file; a torn last line (a crash mid-write) is ignored."""
    lines = path.read_text(encoding="utf-8").split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(Prediction.model_validate_json(line))
        except ValueError:
            if number == len(lines):  # no newline after it: the write never finished
                log.warning("%s:%d: ignoring an incomplete last line", path, number)
                continue
            raise UserError(f"{path}:{number}: not a prediction; delete the file to start over")\
                from None
    return records


def _merge(records: Sequence[Prediction]) -> dict[str, Prediction]:
    """One prediction per id: a success over an error, else the later one."""
    merged: dict[str, Prediction] = {}
    for record in records:
        if record.error is None or merged.get(record.id, record).error is not None:
            merged[record.id] = record
    return merged


# ---- the driver ----


def _progress(total: int, enabled: bool):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            # The average since the start: rich's own estimate needs two updates within 30 s,
            # and a batch of a big model can take longer than that.
            speed = task.completed / task.elapsed if task.completed and task.elapsed else None
            return Text(f"{speed:.2f} problems/s" if speed else "-- problems/s")

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=Console(file=sys.stderr), disable=not enabled or total == 0,
    )


def accuracy(problems: Sequence[Problem], predictions: Mapping[str, Prediction]) -> float | None:
    """`evaluate`'s accuracy over the problems with a gold answer; None without gold."""
    gold = [p for p in problems if p.answer]
    return evaluate_predictions(gold, list(predictions.values())).accuracy if gold else None


def _solved(out: Path, ids: Sequence[str], resume: bool) -> dict[str, Prediction]:
    """What earlier runs saved in partial files (an error unless resuming)."""
    existing = _partials(out)
    if existing and not resume:
        raise UserError(
            f"{existing[0]} exists: an unfinished run. Pass --resume to finish it, or delete it"
            " to start over"
        )
    done = _merge([record for path in existing for record in _read_partial(path)])
    unknown = sorted(set(done) - set(ids))
    if unknown:
        raise UserError(f"{existing[0]}: holds ids not in this dataset (e.g. `{unknown[0]}`);"
                        " was it made for another --dataset? Delete it to start over")
    return done


def solve_to_file(
    problems: Sequence[Problem],
    out_path: str | Path,
    generators: Mapping[str, GenerateFn],
    config: SolveConfig,
    *,
    resume: bool = False,
    chunk_size: int | None = None,
    progress: bool = True,
    scorer: Scorer | None = None,
) -> float | None:
    """Solve `problems` into `out_path` (one Prediction per line, in order); return accuracy.

    Predictions are saved every `chunk_size` problems (default: 4 batches' worth). Under
    torchrun only rank 0 writes `out_path` and returns the accuracy; other ranks return None.
    """
    problems, out = list(problems), Path(out_path)
    if not problems:
        raise UserError("no problems to solve: the dataset is empty")
    ids = [p.id for p in problems]
    repeated = [i for i, count in Counter(ids).items() if count > 1]
    if repeated:
        raise UserError(f"problem id `{repeated[0]}` appears more than once")
    ranks = _Ranks()
    try:
        ranks.barrier()  # every rank reads the partial files before any rank writes
        done = _solved(out, ids, resume)
        ranks.barrier()
        todo = [p for p in problems if p.id not in done or done[p.id].error is not None]
        if done:
            log.info("resuming: %d of %d problems already solved", len(ids) - len(todo), len(ids))
        mine = todo[ranks.rank::ranks.world]
        suffix = f".rank{ranks.rank}" if ranks.world > 1 else ""
        partial = out.with_name(f"{out.name}.partial{suffix}")
        drop_torn_tail(partial)
        out.parent.mkdir(parents=True, exist_ok=True)
        step = chunk_size or max(1, 4 * config.batch_size // config.samples)
        with _progress(len(mine), progress and ranks.rank == 0) as bar:
            task = bar.add_task(config.method + suffix, total=len(mine))
            for start in range(0, len(mine), step):
                for prediction in solve(mine[start:start + step], generators, config, scorer):
                    append_jsonl(partial, prediction)
                bar.advance(task, min(step, len(mine) - start))
        ranks.barrier()
        if ranks.rank != 0:
            return None
        merged = _merge([record for path in _partials(out) for record in _read_partial(path)])
        missing = [i for i in ids if i not in merged]
        if missing:
            raise RuntimeError(f"no prediction for {len(missing)} problems, e.g. `{missing[0]}`")
        write_jsonl(out, (merged[i] for i in ids))
        for path in _partials(out):
            path.unlink()
        return accuracy(problems, merged)
    finally:
        ranks.close()
