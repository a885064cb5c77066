"""An OpenAI-compatible test server on loopback that can be slow and can misbehave.

A plain ASGI app served by uvicorn, in a thread of the test process (`FakeOpenAI().start()`)
or as its own process for the benchmark::

    python tests/teacher/fake_openai.py --latency 0.1     # prints `PORT <n>` when ready

It answers `POST /v1/chat/completions` and `POST /v1/completions` with a completion chosen by
`responder(prompt_text)`, after `latency` seconds. Faults are scripted: each entry of `script`
is consumed by one request, in order, and is one of

- `ok`: a normal answer;
- `429` or `429:SECONDS`: rate limited, with a `Retry-After` header when SECONDS is given;
- `500`: an internal error;
- `400`: a bad request (not retried by the client); `401` a refused key; `404` no such model;
- `malformed`: a 200 whose body is not JSON;
- `nochoices`: a 200 whose JSON has no `choices`;
- `drop`: the connection is closed in the middle of the body;
- `hang`: no answer at all (until the server stops).

`default_fault` applies when the script is empty. Requests are counted per kind, and the
Authorization headers seen and the last request body are kept for the tests to look at.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from collections import Counter, deque
from collections.abc import Callable

DEFAULT_COMPLETION = "Q: What is 2 + 3?\nA: 2 + 3 = <<2+3=5>>5.\nFinal answer: 5"


class FakeOpenAI:
    """The server's state and its ASGI entry point."""

    def __init__(
        self,
        latency: float = 0.0,
        responder: Callable[[str], str] | None = None,
        default_fault: str = "ok",
    ):
        self.latency = latency
        self.responder = responder or (lambda prompt: DEFAULT_COMPLETION)
        self.default_fault = default_fault
        self.script: deque[str] = deque()
        self.counts: Counter[str] = Counter()
        self.authorizations: set[str] = set()
        self.last_request: dict | None = None
        self.port: int | None = None
        self._server = None
        self._closing = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ---- ASGI ----

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        if b"authorization" in headers:
            self.authorizations.add(headers[b"authorization"].decode())
        fault = self.script.popleft() if self.script else self.default_fault
        self.counts["requests"] += 1
        self.counts[fault] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        await self._answer(scope["path"], body, fault, send)

    async def _answer(self, path: str, body: bytes, fault: str, send) -> None:
        code, _, retry_after = fault.partition(":")
        if code == "hang":
            for _ in range(600):  # bounded: at most 60 s, less when the server stops
                if self._closing:
                    break
                await asyncio.sleep(0.1)
            return
        if code == "drop":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"1000")]})
            await send({"type": "http.response.body", "body": b'{"choices": [', "more_body": True})
            raise ConnectionAbortedError("dropped on purpose")  # uvicorn closes the connection
        if code in ("429", "500", "400", "401", "404"):
            extra = [(b"retry-after", retry_after.encode())] if retry_after else []
            error = {"error": {"message": f"injected {code}", "type": "test"}}
            await _send(send, int(code), json.dumps(error).encode(), extra)
            return
        if code == "malformed":
            await _send(send, 200, b'{"choices": [{"text": "trunc')
            return
        if code == "nochoices":
            await _send(send, 200, b'{"object": "list", "data": []}')
            return
        await _send(send, 200, self._completion(path, body))

    def _completion(self, path: str, body: bytes) -> bytes:
        request = self.last_request = json.loads(body)
        if path.endswith("/chat/completions"):
            prompt = "\n".join(message["content"] for message in request["messages"])
        else:
            prompt = request["prompt"]
        text = self.responder(prompt)
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if path.endswith("/chat/completions"):
            choice = {"index": 0, "message": {"role": "assistant", "content": text},
                      "finish_reason": "stop"}
        else:
            choice = {"index": 0, "text": text, "finish_reason": "stop"}
        return json.dumps({"id": "cmpl-test", "model": request.get("model"),
                           "choices": [choice], "usage": usage}).encode()

    # ---- running ----

    def start(self, port: int = 0) -> FakeOpenAI:
        """Serve on 127.0.0.1 in a daemon thread; return once it accepts connections."""
        from socratic_distill.serve.background import BackgroundServer

        self._server = BackgroundServer(
            self, port=port, log_level="critical", lifespan="off", timeout_graceful_shutdown=1
        ).start(wait=5)
        self.port = self._server.port
        return self

    def stop(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.stop(timeout=10)


async def _send(send, status: int, body: bytes, extra: list | None = None) -> None:
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=600, help="Stop by itself after this.")
    args = parser.parse_args()
    server = FakeOpenAI(latency=args.latency).start(args.port)
    print(f"PORT {server.port}", flush=True)
    threading.Event().wait(args.seconds)
    server.stop()


if __name__ == "__main__":
    main()
