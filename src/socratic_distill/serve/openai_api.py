"""OpenAI-compatible `/v1/completions` and `/v1/chat/completions` over one served student.

A student is a plain causal LM: a completion continues the prompt, and a chat is first joined
into one text exactly as the teacher's prompts are for the completions API
(`socratic_distill.teacher.prompts.Prompt.text`: each answer right below its question). With
one student served, any `model` name reaches it; with several (a decomposer and a solver),
`model` names one (`qg`, `qa`, `model`, or a name given to `create_app`), else 404.
Responses carry `usage` (prompt, completion and total tokens); `stream: true` answers with
server-sent chunks, the whole text in one, then `data: [DONE]`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request

from socratic_distill.serve.bodies import ApiError, ChatRequest, CompletionRequest, check_openai
from socratic_distill.serve.runtime import events, openai_seed, result, stream_response, submit
from socratic_distill.serve.scheduler import CompleteSpec
from socratic_distill.teacher.prompts import Prompt

FINISH_REASONS = {"eos": "stop", "newline": "stop", "stop": "stop", "length": "length"}
CHAT_ROLES = {"developer": "system", "tool": "user"}


def resolve_role(state, name: str | None) -> str:
    """The served role that a request's `model` names."""
    if len(state.roles) == 1:
        return state.roles[0]
    if name is None:
        raise ApiError(422, f"`model`: name a served model: {', '.join(sorted(state.names))}",
                       "model")
    if name not in state.names:
        raise ApiError(404, f"the model `{name}` is not served here; served: "
                       f"{', '.join(sorted(state.names))}", "model", kind="not_found_error")
    return state.names[name]


def chat_text(body: ChatRequest) -> str:
    messages = tuple((CHAT_ROLES.get(m.role, m.role), m.text()) for m in body.messages)
    return Prompt(messages).text()


def _usage(final: dict) -> dict[str, int]:
    tokens = final["usage"]
    return {"prompt_tokens": tokens["prompt"], "completion_tokens": tokens["completion"],
            "total_tokens": tokens["total"]}


def add_openai_routes(app: FastAPI, state, guarded: list) -> None:
    async def run(body, prompts: list[str], request: Request, chat: bool):
        role = resolve_role(state, body.model)
        max_tokens = check_openai(body, prompts, state.config)
        spec = CompleteSpec(role, tuple(prompts), body.n, max_tokens, body.temperature,
                            body.top_p, body.stops(), openai_seed(body.seed))
        job, channel = submit(state, spec)
        name = body.model or role
        ident = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"
        if body.stream:
            return stream_response(state, job, _chunks(job, channel, request, ident, name, chat))
        final = await result(state, job, channel, request)
        choices = []
        for index, choice in enumerate(final["choices"]):
            reason = FINISH_REASONS.get(choice["finish_reason"], "stop")
            if chat:
                choices.append({"index": index, "finish_reason": reason, "logprobs": None,
                                "message": {"role": "assistant", "content": choice["text"]}})
            else:
                choices.append({"index": index, "text": choice["text"], "finish_reason": reason,
                                "logprobs": None})
        return {"id": ident, "object": "chat.completion" if chat else "text_completion",
                "created": int(time.time()), "model": name, "choices": choices,
                "usage": _usage(final)}

    async def _chunks(job, channel, request, ident, name, chat) -> AsyncIterator[str]:
        kind_name = "chat.completion.chunk" if chat else "text_completion"
        async for kind, data in events(state, job, channel, request):
            if kind == "ping":
                yield ": keep-alive\n\n"
            elif kind == "error":
                error = {"message": data["message"], "code": data["status"]}
                yield f"data: {json.dumps({'error': error})}\n\n"
            elif kind == "final":
                for index, choice in enumerate(data["choices"]):
                    reason = FINISH_REASONS.get(choice["finish_reason"], "stop")
                    part = ({"index": index, "finish_reason": reason,
                             "delta": {"role": "assistant", "content": choice["text"]}} if chat
                            else {"index": index, "text": choice["text"], "finish_reason": reason})
                    chunk = {"id": ident, "object": kind_name, "created": int(time.time()),
                             "model": name, "choices": [part]}
                    if index == len(data["choices"]) - 1:
                        chunk["usage"] = _usage(data)
                    yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"

    @app.post("/v1/completions", dependencies=guarded)
    async def completions(body: CompletionRequest, request: Request):
        return await run(body, body.prompts(), request, chat=False)

    @app.post("/v1/chat/completions", dependencies=guarded)
    async def chat_completions(body: ChatRequest, request: Request):
        return await run(body, [chat_text(body)], request, chat=True)
