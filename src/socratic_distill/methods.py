"""The method vocabulary, defined once: training tasks, solving methods, the roles each method
is solved with, and which students may play each role.

Every stage takes its names from here: the config validates against them, the pipeline plans
students by them, `solve` and `serve` check students against them, and the report orders its
rows by them. A new method is one entry in `METHODS` (and, for an experiment-only variant
such as `socratic-gold`, one in `RUN_METHODS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Task = Literal["answer", "cot", "unified", "qg", "qa", "verifier"]
# The students that solve, built from annotated problems; the verifier is built from the
# students' own samples (`build --verifier-samples`) and only scores solutions.
STUDENT_TASKS: tuple[str, ...] = ("answer", "cot", "unified", "qg", "qa")
VERIFIER_TASK = "verifier"
TASKS: tuple[str, ...] = (*STUDENT_TASKS, VERIFIER_TASK)
TASK_DESCRIPTIONS = {
    "answer": "direct-answer model", "cot": "chain-of-thought model",
    "unified": "unified Socratic model", "qg": "decomposer", "qa": "solver",
    "verifier": "verifier",
}

Method = Literal["answer", "cot", "unified", "socratic"]
Role = Literal["model", "qg", "qa"]
ROLE_FLAGS = {"model": "--model", "qg": "--qg", "qa": "--qa"}


@dataclass(frozen=True)
class MethodSpec:
    """How a method is solved: its roles, each with the training tasks accepted for it (the
    first is the task trained for it by default), and its default generation length."""

    roles: dict[str, tuple[str, ...]]
    max_new_tokens: int

    @property
    def single_model(self) -> bool:
        return tuple(self.roles) == ("model",)


METHODS: dict[str, MethodSpec] = {
    "answer": MethodSpec({"model": ("answer",)}, max_new_tokens=32),
    "cot": MethodSpec({"model": ("cot",)}, max_new_tokens=320),
    "unified": MethodSpec({"model": ("unified",)}, max_new_tokens=448),
    # A unified student learns both roles' spans of the same text, so it can play either.
    "socratic": MethodSpec({"qg": ("qg", "unified"), "qa": ("qa", "unified")}, max_new_tokens=128),
}
ROLES = {name: spec.roles for name, spec in METHODS.items()}
SINGLE_MODEL_METHODS = tuple(name for name, spec in METHODS.items() if spec.single_model)

# Experiments also name variants of a method: run method -> (method, solve settings it implies).
VERIFIED = "+verifier"  # M+verifier: M's samples ranked by a verifier trained on M's own samples
VERIFIABLE_METHODS = ("cot", "unified", "socratic")
RunMethod = Literal["answer", "cot", "cot+verifier", "unified", "unified+verifier", "socratic",
                    "socratic+verifier", "socratic-gold"]
RUN_METHODS: dict[str, tuple[str, dict[str, str]]] = {
    # In report order: each M+verifier right after M.
    **{run: (name, {}) for name in METHODS
       for run in (name, *([name + VERIFIED] if name in VERIFIABLE_METHODS else []))},
    # The gold subquestions asked instead of the decomposer's: the solver's upper bound.
    "socratic-gold": ("socratic", {"guidance": "gold"}),
}


def verified_base(run_method: str) -> str | None:
    """M for `M+verifier`, else None."""
    return run_method.removesuffix(VERIFIED) if run_method.endswith(VERIFIED) else None


def run_method_tasks(run_method: str) -> tuple[str, ...]:
    """The students an experiment trains for `run_method` by default, one per role it uses."""
    method, settings = RUN_METHODS[run_method]
    roles = dict(METHODS[method].roles)
    if settings.get("guidance") == "gold":
        roles.pop("qg")
    return tuple(tasks[0] for tasks in roles.values())
