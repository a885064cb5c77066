"""The settings of `solve`, stated once and torch-free: the CLI's options, serve's request
bodies and the experiment config take their defaults and checks from `SolveConfig`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from socratic_distill.errors import validated
from socratic_distill.methods import METHODS, Method

# Settings that `serve` shares with `solve`, defined once.
PrefixCacheSetting = Annotated[bool, Field(
    description="socratic: each turn computes only the tokens new since the problem's previous "
    "turn (the HF backend keeps every active problem's KV cache).")]
QgIncludeSolutionsSetting = Annotated[bool, Field(
    description="The decomposer sees earlier solutions (off for a decomposer trained with "
    "`build --qg-without-solutions`).")]


class SolveConfig(BaseModel):
    """How to solve: the method and its decoding settings."""

    model_config = ConfigDict(extra="forbid")

    method: Method = Field(description="answer, cot, unified or socratic.")
    guidance: Literal["model", "gold"] = Field(
        "model", description="socratic only: `gold` asks the gold subquestions (upper bound)."
    )
    temperature: float = Field(0.0, ge=0, description="0 decodes greedily.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass when sampling.")
    samples: int = Field(1, ge=1, description="Self-consistency: sampled solutions per problem.")
    vote: Literal["majority", "best", "weighted"] = Field(
        "majority", description="How the samples choose the answer: majority vote, or with a "
        "verifier the best-scored sample (best-of-N) or the answer with the highest total score.")
    keep_samples: bool = Field(
        False, description="Record every sample's text (`sample_texts`), the verifier's material.")
    max_steps: int = Field(8, ge=1, description="socratic: most subquestions per problem.")
    max_new_tokens: int | None = Field(
        None, ge=1, description="Token budget per completion (socratic: per line); "
        "default by method: " + ", ".join(f"{k} {v.max_new_tokens}" for k, v in METHODS.items()),
    )
    calculator: bool = Field(True, description="Compute `<<expr=` annotations (GSM8K calculator).")
    batch_size: int = Field(32, ge=1, description="Rows decoded together.")
    seed: int = Field(0, description="Sampling seed; a problem's samples depend on it and its id.")
    prefix_cache: PrefixCacheSetting = True
    qg_include_solutions: QgIncludeSolutionsSetting = True

    @model_validator(mode="after")
    def _check(self) -> SolveConfig:
        if self.samples > 1 and self.temperature == 0:
            raise ValueError("samples > 1 needs temperature > 0 (greedy samples are all alike)")
        if self.vote != "majority" and self.samples < 2:
            raise ValueError(f"vote `{self.vote}` ranks samples: it needs samples >= 2")
        if self.guidance == "gold" and self.method != "socratic":
            raise ValueError("guidance `gold` applies to the socratic method only")
        return self

    @property
    def budget(self) -> int:
        return self.max_new_tokens or METHODS[self.method].max_new_tokens


def make_config(**fields) -> SolveConfig:
    """A `SolveConfig`, with invalid settings reported as a `UserError` naming the field."""
    return validated(SolveConfig, fields, "solve settings")


def solve_default(name: str) -> Any:
    """The default of one `SolveConfig` setting, for interfaces that restate the options."""
    return SolveConfig.model_fields[name].default
