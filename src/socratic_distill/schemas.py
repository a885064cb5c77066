"""The record types that cross stage boundaries, defined once.

A `Problem` is what every dataset loader produces and every later stage reads; a `Prediction`
is one line of a solver's output, read as it is by `evaluate`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from socratic_distill.eval.answers import AnswerType, normalize_answer
from socratic_distill.methods import Task


class Step(BaseModel):
    """One subquestion of a Socratic decomposition and its solution."""

    model_config = ConfigDict(extra="forbid")

    subquestion: str
    solution: str = Field(description="Worked solution; may hold <<expr=value>> annotations.")
    answer: str | None = Field(default=None, description="The step's own (normalised) answer.")


class Problem(BaseModel):
    """One problem of any dataset, with its normalised gold answer and optional gold reasoning."""

    model_config = ConfigDict(extra="forbid")

    id: str
    question: str
    answer: str = Field(description="Normalised gold answer: a number, yes/no, or text.")
    answer_type: AnswerType | None = Field(
        default=None, description="number, yesno or text; inferred from the answer when absent."
    )
    context: str | None = Field(default=None, description="Supporting text, e.g. StrategyQA facts.")
    gold_steps: list[Step] | None = None
    gold_cot: str | None = Field(
        default=None, description="Plain step-by-step solution, without the final-answer line."
    )
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _normalise_answer(cls, data: Any) -> Any:
        # Gold answers arrive as numbers, booleans or text; store one canonical string.
        if isinstance(data, dict) and "answer" in data and data["answer"] is not None:
            answer, answer_type = normalize_answer(data["answer"], data.get("answer_type"))
            data = {**data, "answer": answer, "answer_type": answer_type}
        return data


class Prediction(BaseModel):
    """One solver output line. Only `id` is required, so any tool's output can be scored."""

    model_config = ConfigDict(extra="allow")

    id: str
    prediction: str | None = None
    answer: str | None = Field(default=None, description="Answer extracted by the solver, if any.")
    steps: list[Step] | None = None
    error: str | None = None
    # What our solvers record besides; other tools' extra fields are kept as they are.
    prompt_tokens: int | None = Field(default=None, description="Prompt tokens, all samples.")
    completion_tokens: int | None = Field(default=None, description="Generated tokens, all samples.")
    seconds: float | None = Field(default=None, description="Solving time, all samples.")
    samples: list[str | None] | None = Field(
        default=None, description="Self-consistency: each sample's answer, in sample order.")
    sample_errors: list[str] | None = Field(default=None, description="Failed samples' errors.")
    sample_texts: list[str | None] | None = Field(
        default=None, description="Each sample's solution text, when asked (`--keep-samples`): "
        "the verifier's training material.")
    scores: list[float | None] | None = Field(
        default=None, description="With a verifier: each sample's score, in sample order.")
    score: float | None = Field(default=None, description="With a verifier: the chosen sample's.")
    score_seconds: float | None = Field(
        default=None, description="With a verifier: the part of `seconds` spent scoring.")




class TrainingExample(BaseModel):
    """One supervised example: a text and the character spans of it that carry the loss.

    All five tasks share this shape; `unified`, `qg` and `qa` use the same text of a problem
    and differ only in `loss_spans` (see `socratic_distill.formats`).
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    task: Task
    text: str
    loss_spans: list[tuple[int, int]] = Field(
        description="[start, end) character offsets into `text` whose tokens are trained on."
    )
    format_version: int
    verdicts: Literal["steps"] | None = Field(
        default=None, description="A verifier's example with a verdict after every step; "
        "None: one verdict, after the whole solution (and every other task).")


Style = Literal["socratic", "cot"]


class Annotation(BaseModel):
    """One teacher sample for one problem: the raw completion, what was parsed, the verdict."""

    model_config = ConfigDict(extra="forbid")

    id: str
    sample: int = 0
    teacher: str
    style: Style
    completion: str | None = Field(default=None, description="The teacher's raw text.")
    steps: list[Step] = Field(default_factory=list, description="Parsed (socratic style).")
    cot: str | None = Field(default=None, description="Parsed plain solution (cot style).")
    final_answer: str | None = None
    correct: bool | None = Field(default=None, description="None when there is no gold answer.")
    reject_reason: str | None = Field(default=None, description="None when the sample is kept.")
    usage: dict[str, int] | None = Field(default=None, description="Tokens, when reported.")
