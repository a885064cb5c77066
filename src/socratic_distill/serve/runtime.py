"""What the routes share: the server's state, and the bridge from a job to an HTTP answer.

The scheduler's worker thread calls a job's listener; `Channel` moves those events into the
event loop. `events` yields them to a route until `final` or `error`, sending `ping` while it
waits (a keep-alive comment in a stream) and checking that the client is still there; a client
that leaves, or a consumer that stops early, cancels the job.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Mapping, Sequence

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from socratic_distill.infer.generate import GenerateFn
from socratic_distill.infer.verifier import Scorer
from socratic_distill.serve.bodies import ApiError
from socratic_distill.serve.config import ServeConfig
from socratic_distill.serve.metrics import Metrics
from socratic_distill.serve.scheduler import (
    CompleteSpec,
    Job,
    QueueFull,
    Scheduler,
    ShuttingDown,
    SolveSpec,
)

HEARTBEAT = 1.0  # seconds between keep-alive comments (and disconnect checks) while waiting
GRACE = 5.0  # seconds past a job's deadline before a route stops waiting for the worker


class ServerState:
    """What the routes share: the scheduler, the settings, the served methods and names."""

    def __init__(self, generators: Mapping[str, GenerateFn], config: ServeConfig,
                 methods: Sequence[str], names: Mapping[str, str], api_key: str | None,
                 scorer: Scorer | None = None):
        self.config, self.methods = config, list(methods)
        self.metrics = Metrics()
        self.scheduler = Scheduler(generators, config, self.metrics, scorer)
        self.names = {**{role: role for role in generators}, **names}
        self.roles = sorted(generators)
        self.api_key = api_key


class Channel:
    """A job's listener: events cross from the worker thread into an asyncio queue."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()

    def __call__(self, kind: str, data: dict) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, data))


def submit(state: ServerState, spec: SolveSpec | CompleteSpec) -> tuple[Job, Channel]:
    channel = Channel()
    job = Job(spec, channel, state.config.timeout)
    retry = {"Retry-After": str(state.config.retry_after)}
    try:
        state.scheduler.submit(job)
    except QueueFull as error:
        raise ApiError(503, str(error), kind="server_busy", headers=retry) from None
    except ShuttingDown as error:
        raise ApiError(503, str(error), kind="server_busy", headers=retry) from None
    return job, channel


async def events(state: ServerState, job: Job, channel: Channel,
                 request: Request) -> AsyncIterator[tuple[str, dict]]:
    """The job's events up to `final` or `error`, with `ping` while waiting; a consumer that
    stops early, or a client that disconnects, cancels the job."""
    try:
        while True:
            remaining = job.deadline + GRACE - time.monotonic()
            if remaining <= 0:
                yield "error", {"status": 504, "message": f"timed out after {job.timeout:g}s"}
                return
            try:
                kind, data = await asyncio.wait_for(channel.queue.get(), min(HEARTBEAT, remaining))
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    return
                yield "ping", {}
                continue
            yield kind, data
            if kind in ("final", "error"):
                return
    finally:
        if not job.finished:
            state.scheduler.cancel(job)


async def result(state: ServerState, job: Job, channel: Channel, request: Request) -> dict:
    """Wait for the job's final payload; its error becomes an ApiError."""
    async for kind, data in events(state, job, channel, request):
        if kind == "final":
            return data
        if kind == "error":
            status = data["status"]
            kind = ("timeout" if status == 504 else "server_error" if status >= 500
                    else "invalid_request_error")
            raise ApiError(status, data["message"], kind=kind)
    raise ApiError(499, "client disconnected")


def sse(kind: str, data: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"


def stream_response(state: ServerState, job: Job, frames: AsyncIterator[str]) -> StreamingResponse:
    """Server-sent events from `frames`; the job is cancelled if the stream ends early."""
    def cancel_if_unfinished() -> None:  # the safety net when the stream never ran to its end
        if not job.finished:
            state.scheduler.cancel(job)

    return StreamingResponse(
        frames, media_type="text/event-stream", background=BackgroundTask(cancel_if_unfinished),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def openai_seed(seed: int | None) -> int:
    return seed if seed is not None else secrets.randbelow(2**31)
