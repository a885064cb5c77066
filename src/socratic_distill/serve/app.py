"""The HTTP API over the scheduler: `create_app(generators, config) -> FastAPI`.

    POST /v1/solve              {question, method, calculator, max_steps, samples, ...}
                                -> {answer, steps, tokens, seconds, ...}; `stream: true` streams
    POST /v1/solve/stream       server-sent events: start, subquestion, solution, ..., final
    POST /v1/completions        OpenAI-compatible, one served student (`model` names it)
    POST /v1/chat/completions   OpenAI-compatible; messages joined as the teacher's prompts are
    GET  /v1/models             the student names the OpenAI-style endpoints accept
    GET  /health                liveness, methods, batch and queue sizes
    GET  /metrics               Prometheus text
    GET  /                      the web page (self-contained: no external assets)

Errors are `{"error": {"message", "type", "param"}}`: malformed JSON 400, a field that fails
validation (empty or oversized question, unknown method) 422, wrong API key 401, a full queue
503 with Retry-After, a request past its timeout 504. A client that disconnects cancels its job,
which leaves the batch at the next step boundary.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from socratic_distill.infer.config import SolveConfig
from socratic_distill.infer.generate import GenerateFn
from socratic_distill.infer.verifier import Scorer
from socratic_distill.methods import ROLES
from socratic_distill.serve.bodies import ApiError, SolveRequest, check_solve
from socratic_distill.serve.config import ServeConfig
from socratic_distill.serve.metrics import CONTENT_TYPE, MetricsMiddleware
from socratic_distill.serve.openai_api import add_openai_routes
from socratic_distill.serve.runtime import (
    ServerState,
    events,
    result,
    sse,
    stream_response,
    submit,
)
from socratic_distill.serve.scheduler import SolveSpec

PAGE = Path(__file__).parent / "static" / "index.html"
PAGE_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
               "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'")


def _served_methods(generators: Mapping[str, GenerateFn], methods: Sequence[str] | None) -> list[str]:
    if methods is None:
        methods = ["socratic"] if {"qg", "qa"} <= set(generators) else []
    for method in methods:
        missing = set(ROLES[method]) - set(generators)
        if missing:
            raise ValueError(f"method `{method}` needs students for: {', '.join(sorted(missing))}")
    return list(methods)


def create_app(
    generators: Mapping[str, GenerateFn],
    config: ServeConfig | None = None,
    *,
    methods: Sequence[str] | None = None,
    model_names: Mapping[str, str] | None = None,
    api_key: str | None = None,
    scorer: Scorer | None = None,
) -> FastAPI:
    """The app serving `generators` (roles `model`, `qg`, `qa` -> backends).

    `methods` are the solving methods offered (default: socratic when qg and qa are given; a
    `model` student's method must be named, e.g. ["unified"]); the first is the default.
    `model_names` adds names (e.g. directory names) for roles on the OpenAI-style endpoints.
    With `api_key`, /v1/* and /metrics want `Authorization: Bearer KEY` (or `X-API-Key`).
    With `scorer` (a verifier), a request of several samples gets the best-scored one's answer.
    """
    state = ServerState(generators, config or ServeConfig(), _served_methods(generators, methods),
                        model_names or {}, api_key, scorer)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.scheduler.start()
        try:
            yield
        finally:
            await asyncio.to_thread(state.scheduler.stop)

    app = FastAPI(title="socratic-distill", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.serve = state
    _add_error_handlers(app)
    _add_routes(app, state)
    app.add_middleware(BodyLimitMiddleware, limit=state.config.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    return app


# ---- errors ----


def error_response(status: int, message: str, param: str | None = None,
                   kind: str = "invalid_request_error", headers: dict | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": status}}
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_message(errors: Sequence[Any]) -> tuple[int, str, str | None]:
    """(status, message, param) of a validation failure: 400 for a body that is not JSON."""
    first = errors[0]
    if first.get("type") == "json_invalid":
        return 400, f"malformed JSON body: {first.get('ctx', {}).get('error', first['msg'])}", None
    whole_body = tuple(first.get("loc", ())) == ("body",)
    if whole_body and (first.get("type") == "missing" or isinstance(first.get("input"), bytes)):
        return 400, "the request needs a JSON object body (Content-Type: application/json)", None
    if whole_body:
        return 422, "the body must be a JSON object", None
    parts, param = [], None
    for error in errors[:5]:
        loc = [str(part) for part in error.get("loc", ()) if part != "body"]
        name = ".".join(loc)
        param = param or name or None
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"`{name}`: {message}" if name else message)
    return 422, "; ".join(parts), param


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError):
        return error_response(error.status, error.message, error.param, error.kind, error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        status, message, param = _validation_message(error.errors())
        return error_response(status, message, param)

    @app.exception_handler(Exception)
    async def crashed(request: Request, error: Exception):
        return error_response(500, f"internal error: {type(error).__name__}", kind="server_error")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
        return error_response(error.status_code, str(error.detail), kind=kind,
                              headers=getattr(error, "headers", None))


class BodyLimitMiddleware:
    """Pure ASGI: a body over `limit` bytes is refused with 413 (by its Content-Length, or
    while reading a chunked one), before the app sees it."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.limit:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:  # chunked: read it all, up to the limit, then hand it over
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body"):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send) -> None:
        response = error_response(413, f"request body over {self.limit} bytes")
        await response(scope, receive, send)


# ---- routes ----


def _add_routes(app: FastAPI, state: ServerState) -> None:
    async def require_key(request: Request) -> None:
        if state.api_key is None:
            return
        given = request.headers.get("x-api-key") or ""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            given = token.strip()
        if not hmac.compare_digest(given.encode(), state.api_key.encode()):
            raise ApiError(401, "missing or wrong API key: send `Authorization: Bearer KEY`",
                           kind="authentication_error")

    guarded = [Depends(require_key)]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"),
                            headers={"Content-Security-Policy": PAGE_POLICY,
                                     "Cache-Control": "no-cache"})

    @app.get("/health")
    async def health() -> JSONResponse:
        active, queued = state.scheduler.load()
        return JSONResponse({
            "status": "ok", "methods": state.methods, "models": sorted(state.names),
            "batching": state.config.batching, "active": active, "queued": queued,
            "auth": state.api_key is not None, "verifier": state.scheduler.scorer is not None,
        })

    @app.get("/metrics", dependencies=guarded)
    async def metrics() -> PlainTextResponse:
        active, queued = state.scheduler.load()
        gauges = {"queue_depth": ("Requests waiting to join the batch.", queued),
                  "active_requests": ("Requests in the batch.", active),
                  "batching_enabled": ("1 when continuous batching is on.", int(state.config.batching))}
        return PlainTextResponse(state.metrics.render(gauges), media_type=CONTENT_TYPE)

    @app.get("/v1/models", dependencies=guarded)
    async def models() -> dict:
        return {"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "socratic-distill",
             "role": role} for name, role in sorted(state.names.items())]}

    @app.post("/v1/solve", dependencies=guarded)
    async def solve_route(body: SolveRequest, request: Request):
        if body.stream:
            return _solve_stream(state, body, request)
        job, channel = submit(state, _solve_spec(state, body))
        return await result(state, job, channel, request)

    @app.post("/v1/solve/stream", dependencies=guarded)
    async def solve_stream_route(body: SolveRequest, request: Request):
        return _solve_stream(state, body, request)

    add_openai_routes(app, state, guarded)


def _solve_spec(state: ServerState, body: SolveRequest) -> SolveSpec:
    check_solve(body, state.config)
    method = body.method or (state.methods[0] if state.methods else None)
    if method not in state.methods:
        served = ", ".join(state.methods) or "no solving method (OpenAI-style endpoints only)"
        raise ApiError(422, f"`method`: `{method}` is not served here; this server serves: "
                       f"{served}", "method")
    temperature = body.temperature if body.temperature is not None else (
        0.7 if body.samples > 1 else 0.0)
    try:
        config = SolveConfig(
            method=method, temperature=temperature, top_p=body.top_p, samples=body.samples,
            max_steps=body.max_steps, max_new_tokens=state.config.max_new_tokens,
            calculator=body.calculator, batch_size=state.scheduler.decode_batch_size, seed=body.seed,
            qg_include_solutions=state.config.qg_include_solutions,
            vote="best" if state.scheduler.scorer is not None and body.samples > 1 else "majority",
        )
    except ValidationError as error:
        status, message, param = _validation_message(error.errors())
        raise ApiError(422, message, param) from None
    context = body.context if body.context and body.context.strip() else None
    return SolveSpec(body.question, context, body.answer_type, config)


def _solve_stream(state: ServerState, body: SolveRequest, request: Request) -> StreamingResponse:
    spec = _solve_spec(state, body)
    job, channel = submit(state, spec)

    async def frames() -> AsyncIterator[str]:
        yield sse("start", {"id": job.id, "method": spec.config.method,
                            "samples": spec.config.samples, "question": spec.question})
        async for kind, data in events(state, job, channel, request):
            yield ": keep-alive\n\n" if kind == "ping" else sse(kind, data)

    return stream_response(state, job, frames())

