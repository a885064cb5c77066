"""The settings of `serve`, validated in one place (the API key is not one of them: it is a secret)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from socratic_distill.errors import validated
from socratic_distill.infer.config import PrefixCacheSetting, QgIncludeSolutionsSetting


class ServeConfig(BaseModel):
    """How the server batches, queues, times out and limits its input."""

    model_config = ConfigDict(extra="forbid")

    batching: bool = Field(
        True, description="Join concurrent requests in one batch at step boundaries (continuous "
        "batching); off: one request at a time (the benchmark's baseline)."
    )
    max_batch_rows: int = Field(
        64, ge=1, description="Most rows (requests x samples, or completions) in the batch."
    )
    decode_batch_size: int | None = Field(
        None, ge=1, description="Rows that one generate call decodes together (default: "
        "`max_batch_rows`, the whole batch; prompts of unlike lengths are prefilled apart, so "
        "large chunks waste little on padding)."
    )
    admit_wait: float = Field(
        0.02, ge=0, description="Seconds the worker may wait before a turn for requests to take "
        "the places that finished ones left (an empty batch: to fill it), so that clients who "
        "send their next request on an answer join the coming turn, not the one after. 0: never."
    )
    queue_size: int = Field(
        256, ge=0, description="Requests that may wait to join the batch; beyond it: 503."
    )
    retry_after: int = Field(1, ge=1, description="Seconds that a refused (503) client is told to wait.")
    timeout: float = Field(
        120.0, gt=0, description="Seconds a request may take, waiting included; then 504."
    )
    max_question_chars: int = Field(2000, ge=1, description="Longest question accepted (422 beyond).")
    max_context_chars: int = Field(4000, ge=0, description="Longest `context` (facts) accepted.")
    max_prompt_chars: int = Field(
        32000, ge=1, description="Longest prompt (all messages) on the OpenAI-style endpoints."
    )
    max_steps: int = Field(16, ge=1, description="Most subquestions that a request may ask for.")
    max_samples: int = Field(8, ge=1, description="Most samples (`samples`, `n`) per request.")
    max_new_tokens: int | None = Field(
        None, ge=1, description="Token budget per socratic line or single-model solution; default "
        "by method, as `solve` does."
    )
    default_max_tokens: int = Field(
        256, ge=1, description="OpenAI-style endpoints: `max_tokens` when a request gives none."
    )
    max_completion_tokens: int = Field(
        1024, ge=1, description="OpenAI-style endpoints: the largest `max_tokens` accepted."
    )
    max_body_bytes: int = Field(262144, ge=1024, description="Largest request body (413 beyond).")
    prefix_cache: PrefixCacheSetting = True
    qg_include_solutions: QgIncludeSolutionsSetting = True

    @model_validator(mode="after")
    def _check(self) -> ServeConfig:
        if self.max_samples > self.max_batch_rows:
            raise ValueError(f"`max_samples` ({self.max_samples}) exceeds `max_batch_rows` "
                             f"({self.max_batch_rows}): one request would not fit the batch")
        if self.default_max_tokens > self.max_completion_tokens:
            raise ValueError("`default_max_tokens` exceeds `max_completion_tokens`")
        return self


def make_serve_config(**fields) -> ServeConfig:
    """A `ServeConfig`, with invalid settings reported as a `UserError` naming the field."""
    return validated(ServeConfig, fields, "serve settings")

