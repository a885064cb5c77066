"""Experiment configuration: the YAML that `socratic-distill run` reads, validated at the edge.

Unknown or misspelt keys are errors that name their path (`students.qg.train.lerning_rate`).
Training and decoding settings are checked against the stage configs themselves
(`TrainConfig`, `SolveConfig`, `AnnotateConfig`), so a config fails before any work starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from socratic_distill.data.contamination import NGRAM
from socratic_distill.errors import UserError, describe_validation
from socratic_distill.methods import (
    RUN_METHODS,
    TASKS,
    VERIFIER_TASK,
    RunMethod,
    Task,
    run_method_tasks,
    verified_base,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSection(Strict):
    name: str = Field("synthetic", description="A registered dataset, or jsonl:PATH / csv:PATH.")
    train_split: str = Field("train", description="Split the students learn from.")
    eval_splits: list[str] = Field(["test"], description="Splits every method is evaluated on.")
    train_limit: int | None = Field(None, ge=1, description="First N training problems.")
    eval_limit: int | None = Field(None, ge=1, description="First N problems of each eval split.")
    data_dir: str | None = Field(None, description="Local original files (else env, else hub).")
    options: dict[str, Any] = Field(default_factory=dict, description="Dataset options.")
    train_options: dict[str, Any] = Field(
        default_factory=dict, description="Options of the training split alone, over `options` "
        "(an augmented training set; the evaluation splits keep `options`).")

    def spec(self, split: str) -> str:
        return self.name if ":" in self.name else f"{self.name}:{split}"

    def options_for(self, split: str) -> dict[str, Any]:
        return {**self.options, **self.train_options} if split == self.train_split else self.options

    @model_validator(mode="after")
    def _check_train_options(self) -> DatasetSection:
        if self.train_options and self.train_split in self.eval_splits:
            raise ValueError(f"train_options: the training split `{self.train_split}` is also an "
                             "evaluation split, which would then be evaluated on other problems")
        return self


class TeacherSection(Strict):
    spec: str = Field("gold", description="gold, synthetic, openai:MODEL, hf:PATH, replay:FILE.")
    styles: list[Literal["socratic", "cot"]] = Field(["socratic", "cot"])
    options: dict[str, Any] = Field(
        default_factory=dict, description="Further `annotate` settings (samples, noise, base_url...)."
    )


class BuildSection(Strict):
    drop_contaminated: bool = Field(
        False, description="Leave out the training problems that share a run of `ngram` words "
        "with a problem of an evaluation split (they are counted either way).")
    ngram: int = Field(NGRAM, ge=1, description="Words in a run that counts as shared.")


class StudentSection(Strict):
    model: str | None = Field(None, description="Model spec; default: `students.default.model`.")
    train: dict[str, Any] = Field(default_factory=dict, description="TrainConfig overrides.")


class VerifierSection(Strict):
    """For the `M+verifier` methods: the students sample `train_samples` solutions of each
    training problem, a verifier learns which are right, and at evaluation it picks the best of
    `samples` (the evaluation problems are never among its training problems)."""

    samples: int = Field(8, ge=2, description="Samples per evaluation problem, ranked.")
    temperature: float = Field(0.7, gt=0, description="Sampling temperature, training and evaluation.")
    vote: Literal["best", "weighted"] = Field(
        "best", description="best: the best-scored sample; weighted: the answer whose samples' "
        "scores sum highest.")
    train_problems: int | None = Field(
        None, ge=1, description="First N training problems sampled for the verifier; default all.")
    split: str | None = Field(
        None, description="Sample this split of the dataset instead of the students' training "
        "problems, so that the verifier learns from problems the students never saw; it must "
        "not be an evaluation split.")
    train_samples: int | None = Field(None, ge=2, description="Per training problem; default `samples`.")
    balanced: bool = Field(
        False, description="Train only on problems with both right and wrong samples, as many of "
        "each, so that the verdict must come from the sample, not from how easy its problem is.")
    stepwise: bool = Field(
        False, description="A verdict after every step, labelled by where a sample first departs "
        "from the gold steps; a sample's score is its lowest step's.")
    model: str | None = Field(None, description="The verifier's model spec; default `default_model`.")
    train: dict[str, Any] = Field(default_factory=dict, description="TrainConfig overrides.")


class ExperimentConfig(Strict):
    name: str = Field(description="Names the run and its report.")
    run_dir: str | None = Field(None, description="Where the run lives; default runs/NAME.")
    dataset: DatasetSection = Field(default_factory=DatasetSection)
    teacher: TeacherSection = Field(default_factory=TeacherSection)
    build: BuildSection = Field(default_factory=BuildSection)
    methods: list[RunMethod] = Field(["answer", "cot", "unified", "socratic"])
    default_model: str = Field("scratch:small", description="Student model for every task.")
    train: dict[str, Any] = Field(default_factory=dict, description="TrainConfig for every task.")
    students: dict[Task, StudentSection] = Field(
        default_factory=dict, description="Per-task model and training overrides."
    )
    socratic_students: Literal["pair", "unified"] = Field(
        "pair", description="socratic: a decomposer and a solver trained apart (`pair`, the "
        "paper's), or the `unified` student in both roles (one model, both roles' spans trained).")
    solve: dict[str, Any] = Field(default_factory=dict, description="SolveConfig for every method.")
    verifier: VerifierSection = Field(default_factory=VerifierSection)
    targets: dict[RunMethod, dict[str, float]] = Field(
        default_factory=dict,
        description="Accuracy aims in percent, per method and evaluation split (e.g. "
        "`socratic: {test: 80}`); `run` prints each beside what was measured.")
    notes: str | None = Field(None, description="Free text: expected cost, provenance...")

    @model_validator(mode="after")
    def _check_stage_settings(self) -> ExperimentConfig:
        from socratic_distill.infer.config import SolveConfig
        from socratic_distill.teacher.config import AnnotateConfig
        from socratic_distill.train.config import TrainConfig

        for task in self.tasks():
            _validate(TrainConfig, self.train_settings(task), f"students.{task}.train")
        if self.verified_methods():
            _validate(TrainConfig, self.train_settings(VERIFIER_TASK), "verifier.train")
        for method in self.methods:
            _validate(SolveConfig, self.solve_settings(method), "solve")
        for base in self.verified_methods():
            _validate(SolveConfig, self.verifier_sample_settings(base), "verifier")
        if self.teacher.spec != "gold":
            for style in self.teacher.styles:
                _validate(AnnotateConfig, self.annotate_settings(style), "teacher.options")
        return self

    def method_tasks(self, method: str) -> tuple[str, ...]:
        """The students `method` is solved with in this experiment."""
        if self.socratic_students == "unified" and RUN_METHODS[method][0] == "socratic":
            return ("unified",)
        return run_method_tasks(method)

    @model_validator(mode="after")
    def _check_verifier_split(self) -> ExperimentConfig:
        if self.verifier.split is not None and self.verifier.split in self.dataset.eval_splits:
            raise ValueError(f"verifier.split: `{self.verifier.split}` is an evaluation split; "
                             "the verifier must not learn from the problems it is measured on")
        return self

    @model_validator(mode="after")
    def _check_targets(self) -> ExperimentConfig:
        for method, splits in self.targets.items():
            if method not in self.methods:
                raise ValueError(f"targets.{method}: not one of the methods {self.methods}")
            for split, aim in splits.items():
                if split not in self.dataset.eval_splits:
                    raise ValueError(f"targets.{method}.{split}: not an evaluation split "
                                     f"{self.dataset.eval_splits}")
                if not 0 <= aim <= 100:
                    raise ValueError(f"targets.{method}.{split}: {aim} is not a percentage")
        return self

    def verified_methods(self) -> list[str]:
        """The methods whose samples a verifier ranks (M for every `M+verifier`)."""
        return list(dict.fromkeys(b for b in map(verified_base, self.methods) if b is not None))

    def tasks(self) -> list[str]:
        needed = {task for method in self.methods for task in self.method_tasks(method)}
        return [task for task in TASKS if task in needed]

    def model_for(self, task: str) -> str:
        if task == VERIFIER_TASK:
            return self.verifier.model or self.default_model
        student = self.students.get(task)
        return (student.model if student and student.model else None) or self.default_model

    def train_settings(self, task: str) -> dict[str, Any]:
        if task == VERIFIER_TASK:
            return {**self.train, **self.verifier.train}
        student = self.students.get(task)
        return {**self.train, **(student.train if student else {})}

    def solve_settings(self, method: str) -> dict[str, Any]:
        base, implied = RUN_METHODS[method]
        ranked = {"samples": self.verifier.samples, "temperature": self.verifier.temperature,
                  "vote": self.verifier.vote} if verified_base(method) else {}
        return {**self.solve, "method": base, **implied, **ranked}

    def verifier_sample_settings(self, base: str) -> dict[str, Any]:
        """How the students sample training problems for `base`'s verifier."""
        return {**self.solve, "method": base, "temperature": self.verifier.temperature,
                "samples": self.verifier.train_samples or self.verifier.samples,
                "keep_samples": True}

    def annotate_settings(self, style: str) -> dict[str, Any]:
        return {**self.teacher.options, "teacher": self.teacher.spec, "style": style}

    def resolved_run_dir(self) -> Path:
        return Path(self.run_dir or Path("runs") / self.name)


def _validate(model: type[BaseModel], settings: dict[str, Any], where: str) -> None:
    try:
        model(**settings)
    except ValidationError as error:
        raise ValueError(describe_validation(error, where)) from None


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment YAML; any problem is a one-line `UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such config file")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{where}: invalid YAML ({getattr(error, 'problem', error)})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of settings at the top level")
    return parse_config(raw, str(path))


def parse_config(raw: dict[str, Any], source: str = "config") -> ExperimentConfig:
    try:
        return ExperimentConfig(**raw)
    except ValidationError as error:
        raise UserError(f"{source}: {describe_validation(error)}") from None
