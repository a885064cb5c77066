"""Teacher backends behind one interface: prompts in, completions with usage out.

A teacher spec is `KIND[:ARGUMENT]`; each kind registers a factory with `@register_teacher`:

    openai:MODEL         any OpenAI-compatible endpoint (`base_url`, `api_key_env`, `api`)
    hf:MODEL_OR_PATH     local transformers generation, batched
    gold                 the dataset's own annotations, rendered in the answer format
    replay:FILE          completions made elsewhere: lines {"id", "sample", "completion"}
    synthetic            the gold traces with each step corrupted with probability `noise`

Every teacher's `complete(requests)` returns one `Completion` per request, in order; all of
them go through the same parser and checks. `paid` teachers (openai, hf) are cached and count
toward the budget caps; `identity` is what, besides the prompt and the sample index, decides a
completion (the cache key material: never the endpoint URL or the API key).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from socratic_distill.errors import UserError, did_you_mean
from socratic_distill.schemas import Problem
from socratic_distill.teacher.config import DEFAULT_BASE_URL, AnnotateConfig
from socratic_distill.teacher.prompts import Prompt


@dataclass(frozen=True)
class Request:
    problem: Problem
    sample: int
    prompt: Prompt


@dataclass(frozen=True)
class Completion:
    text: str | None
    usage: dict[str, int] | None = None
    error: str | None = None  # why there is no text; becomes the record's reject reason
    pending: bool = False  # nothing to record now: the pair stays to do on a later run
    cached: bool = False  # served by the completion cache: nothing was paid for it


class Teacher(Protocol):
    name: str
    paid: bool
    batch_size: int
    identity: dict[str, Any]

    async def complete(self, requests: Sequence[Request]) -> list[Completion]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class TeacherKind:
    name: str
    factory: Callable[[str, AnnotateConfig], Teacher]
    argument: str | None  # e.g. "MODEL"; None when the kind takes none
    description: str


TEACHERS: dict[str, TeacherKind] = {}


def register_teacher(name: str, argument: str | None, description: str):
    def decorate(factory: Callable[[str, AnnotateConfig], Teacher]):
        TEACHERS[name] = TeacherKind(name, factory, argument, description)
        return factory

    return decorate


def _ensure_registered() -> None:
    from socratic_distill.teacher import hf, offline  # noqa: F401  (they register themselves)


def make_teacher(config: AnnotateConfig) -> Teacher:
    """The teacher that `config.teacher` names; a bad spec is a UserError with a suggestion."""
    _ensure_registered()
    kind_name, colon, argument = config.teacher.strip().partition(":")
    kind_name = kind_name.lower()
    if kind_name not in TEACHERS:
        hint = did_you_mean(kind_name, TEACHERS)
        known = ", ".join(f"{k.name}:{k.argument}" if k.argument else k.name
                          for k in TEACHERS.values())
        raise UserError(f"unknown teacher `{config.teacher}`{hint}; known: {known}")
    kind = TEACHERS[kind_name]
    if kind.argument and not argument.strip():
        raise UserError(f"teacher `{kind_name}` needs {kind.argument}: `{kind_name}:{kind.argument}`")
    if not kind.argument and colon:
        raise UserError(f"teacher `{kind_name}` takes no argument: write `{kind_name}`")
    return kind.factory(argument.strip(), config)


# ---- openai: ----


@dataclass
class OpenAITeacher:
    name: str
    config: AnnotateConfig
    client: Any  # OpenAIClient
    paid: bool = True
    batch_size: int = 1
    identity: dict[str, Any] = field(default_factory=dict)

    async def complete(self, requests: Sequence[Request]) -> list[Completion]:
        from socratic_distill.teacher.openai_client import RequestRejected

        results = []
        for request in requests:
            try:
                result = await self.client.complete(self._payload(request))
            except RequestRejected as error:
                results.append(Completion(None, error=f"request rejected: {error}", pending=True))
                continue
            results.append(Completion(result.text, result.usage))
        return results

    def _payload(self, request: Request) -> dict[str, Any]:
        config = self.config
        payload: dict[str, Any] = {"max_tokens": config.max_tokens,
                                   "temperature": config.temperature}
        if config.seed is not None:
            payload["seed"] = config.seed + request.sample
        if config.api == "chat":
            payload["messages"] = request.prompt.chat()
        else:
            payload["prompt"] = request.prompt.text()
            if request.prompt.stop:
                payload["stop"] = list(request.prompt.stop)[:4]  # OpenAI accepts at most 4
        return payload

    async def aclose(self) -> None:
        await self.client.aclose()


@register_teacher("openai", "MODEL", "an OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp)")
def _openai(model: str, config: AnnotateConfig) -> Teacher:
    from socratic_distill.teacher.openai_client import OpenAIClient, RetryPolicy

    api_key = os.environ.get(config.api_key_env) or None
    if api_key is None and config.base_url.rstrip("/") == DEFAULT_BASE_URL:
        raise UserError(
            f"teacher `openai:{model}` needs an API key: set ${config.api_key_env} (or name "
            "another variable with `api_key_env`), or point `base_url` at a local server"
        )
    retry = RetryPolicy(config.max_retries, config.retry_base_delay, config.retry_max_delay)
    client = OpenAIClient(config.base_url, model, api_key, api=config.api,
                          timeout=config.timeout, retry=retry, concurrency=config.concurrency)
    identity = {"teacher": f"openai:{model}", "api": config.api,
                "temperature": config.temperature, "max_tokens": config.max_tokens,
                "seed": config.seed}
    return OpenAITeacher(f"openai:{model}", config, client, identity=identity)
