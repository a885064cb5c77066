"""The settings of `annotate`, validated in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from socratic_distill.errors import validated
from socratic_distill.schemas import Style

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class Prices(BaseModel):
    """What tokens cost, in USD per million tokens, for `max_cost` and the summary."""

    model_config = ConfigDict(extra="forbid")

    prompt: float = Field(ge=0, description="USD per million prompt (input) tokens.")
    completion: float = Field(ge=0, description="USD per million completion (output) tokens.")

    def cost(self, usage: dict[str, int] | None) -> float:
        usage = usage or {}
        return (usage.get("prompt_tokens", 0) * self.prompt
                + usage.get("completion_tokens", 0) * self.completion) / 1e6


class AnnotateConfig(BaseModel):
    """Everything `annotate` needs besides the problems and the output path."""

    model_config = ConfigDict(extra="forbid")

    teacher: str = Field(description="openai:MODEL, hf:MODEL_OR_PATH, gold, replay:FILE, synthetic.")
    style: Style = Field("socratic", description="socratic (sub-question/answer pairs) or cot.")
    samples: int = Field(1, ge=1, le=1000, description="Completions per problem.")
    prompt: Path | None = Field(
        None, description="Prompt file for every problem; default: the bundled one per family."
    )
    show_gold: bool = Field(False, description="Show the teacher the gold solution or equation.")
    base_url: str = Field(DEFAULT_BASE_URL, description="OpenAI-compatible endpoint (openai:).")
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="Environment variable holding the API key (never stored)."
    )
    api: Literal["chat", "completions"] = Field("chat", description="Which endpoint API to call.")
    concurrency: int = Field(8, ge=1, le=1024, description="Requests in flight at once.")
    timeout: float = Field(120.0, gt=0, description="Seconds per request attempt.")
    max_retries: int = Field(6, ge=0, le=100, description="Retries of a failed request.")
    retry_base_delay: float = Field(1.0, ge=0, description="First backoff, doubled each retry.")
    retry_max_delay: float = Field(60.0, ge=0, description="Longest wait between retries.")
    max_requests: int | None = Field(
        None, ge=0, description="Stop after this many paid requests (cache hits are free)."
    )
    max_cost: float | None = Field(
        None, ge=0, description="Stop once this many USD are spent (needs `prices`)."
    )
    prices: Prices | None = Field(None, description="USD per million prompt/completion tokens.")
    cache: Path | None = Field(
        None, description="SQLite completion cache; default: the output path + `.cache.sqlite`."
    )
    keep_incorrect: bool = Field(
        False, description="Keep wrong answers and wrong arithmetic too (`correct: false`)."
    )
    noise: float = Field(
        0.0, ge=0, le=1, description="synthetic teacher: chance that each step is corrupted."
    )
    temperature: float | None = Field(
        None, ge=0, le=2, description="Sampling temperature; default 0 for 1 sample, else 0.7."
    )
    max_tokens: int = Field(512, ge=1, description="Longest completion, in tokens.")
    seed: int | None = Field(None, description="Sampling seed (sample i uses seed + i).")
    batch_size: int = Field(8, ge=1, description="hf teacher: prompts per generate() call.")

    @model_validator(mode="after")
    def _check(self) -> AnnotateConfig:
        if self.max_cost is not None and self.prices is None:
            raise ValueError("`max_cost` needs `prices` (USD per million prompt and completion"
                             " tokens), or token usage cannot be turned into cost")
        kind = self.teacher.partition(":")[0].strip().lower()
        if self.noise and kind != "synthetic":
            raise ValueError(f"`noise` only applies to the `synthetic` teacher, not `{kind}`")
        if self.temperature is None:
            self.temperature = 0.0 if self.samples == 1 else 0.7
        return self

    def cache_path(self, out: Path) -> Path:
        return self.cache if self.cache is not None else out.with_name(out.name + ".cache.sqlite")


def make_config(**options: object) -> AnnotateConfig:
    """`AnnotateConfig(**options)`, with a validation failure as a UserError naming the field."""
    return validated(AnnotateConfig, options, "annotate")

