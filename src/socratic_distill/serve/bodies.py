"""The request bodies the server reads: `/v1/solve` (strict) and the OpenAI-style ones (lenient).

`SolveRequest` rejects unknown keys. The OpenAI-style bodies ignore the fields they do not use
(`user`, `presence_penalty`, ...), as OpenAI-compatible servers do, so that any client works.
Limits that depend on the server's settings are checked by `check_*` against a `ServeConfig`
and raise `ApiError` (422) naming the field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from socratic_distill.eval.answers import AnswerType
from socratic_distill.infer.config import solve_default
from socratic_distill.methods import Method
from socratic_distill.serve.config import ServeConfig


class ApiError(Exception):
    """An HTTP error answered as `{"error": {"message", "type", "param"}}`."""

    def __init__(self, status: int, message: str, param: str | None = None,
                 kind: str = "invalid_request_error", headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.kind = status, message, param, kind
        self.headers = headers or {}


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


class SolveRequest(BaseModel):
    """POST /v1/solve: one problem, solved by the served students."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="The problem, in words.")
    method: Method | None = Field(None, description="answer, cot, unified or socratic; default: "
                                  "the one the server serves.")
    calculator: bool = Field(solve_default("calculator"), description="Compute `<<expr=` annotations.")
    max_steps: int = Field(solve_default("max_steps"), ge=1, description="socratic: most subquestions.")
    samples: int = Field(solve_default("samples"), ge=1,
                         description="Self-consistency: majority vote over N samples.")
    temperature: float | None = Field(None, ge=0, le=2, description="Default 0, or 0.7 with "
                                      "samples > 1.")
    top_p: float = Field(solve_default("top_p"), gt=0, le=1)
    seed: int = Field(solve_default("seed"), ge=0, lt=2**62, description="Sampling seed.")
    context: str | None = Field(None, description="Facts that precede the question (StrategyQA).")
    answer_type: AnswerType = Field("number", description="number, yesno or text.")
    stream: bool = Field(False, description="Answer with server-sent events, step by step.")

    _question = field_validator("question")(_not_blank)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict] | None = None

    def text(self) -> str:
        """The message's text; content parts of type `text` are joined."""
        if isinstance(self.content, list):
            parts = [part.get("text", "") for part in self.content if part.get("type") == "text"]
            return "".join(str(part) for part in parts)
        return self.content or ""


class _OpenAIRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    n: int = Field(1, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=0, lt=2**62)
    stream: bool = False

    def stops(self) -> tuple[str, ...]:
        values = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return tuple(value for value in values if value)


class CompletionRequest(_OpenAIRequest):
    """POST /v1/completions."""

    prompt: str | list[str]

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)


class ChatRequest(_OpenAIRequest):
    """POST /v1/chat/completions."""

    messages: list[ChatMessage] = Field(min_length=1)


def check_solve(request: SolveRequest, config: ServeConfig) -> None:
    """The limits of the server's settings; ApiError 422 naming the field."""
    if len(request.question) > config.max_question_chars:
        raise ApiError(422, f"`question`: {len(request.question)} characters; this server "
                       f"accepts at most {config.max_question_chars}", "question")
    if request.context and len(request.context) > config.max_context_chars:
        raise ApiError(422, f"`context`: {len(request.context)} characters; this server "
                       f"accepts at most {config.max_context_chars}", "context")
    if request.max_steps > config.max_steps:
        raise ApiError(422, f"`max_steps`: at most {config.max_steps}", "max_steps")
    if request.samples > config.max_samples:
        raise ApiError(422, f"`samples`: at most {config.max_samples}", "samples")


def check_openai(request: _OpenAIRequest, prompts: list[str], config: ServeConfig) -> int:
    """Check an OpenAI-style request against the limits; return its `max_tokens`."""
    if not prompts:
        raise ApiError(422, "`prompt`: give at least one prompt", "prompt")
    size = sum(len(prompt) for prompt in prompts)
    if size > config.max_prompt_chars:
        raise ApiError(422, f"prompt of {size} characters; this server accepts at most "
                       f"{config.max_prompt_chars}", "prompt")
    if len(prompts) * request.n > config.max_samples:
        raise ApiError(422, f"`n` x prompts: at most {config.max_samples} completions per "
                       "request", "n")
    if len(request.stops()) > 4:
        raise ApiError(422, "`stop`: at most 4 stop strings", "stop")
    max_tokens = request.max_completion_tokens or request.max_tokens or config.default_max_tokens
    if max_tokens > config.max_completion_tokens:
        raise ApiError(422, f"`max_tokens`: at most {config.max_completion_tokens}", "max_tokens")
    return max_tokens
