"""An ASGI app served by uvicorn on loopback, in a daemon thread of this process.

For tests, benchmarks and notebooks that need a real HTTP server beside their own code:

    with BackgroundServer(create_app(generators, config)) as server:
        httpx.post(f"{server.url}/v1/solve", json={"question": "..."})

Port 0 picks a free port; `start` returns once the server accepts connections.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class BackgroundServer:
    def __init__(self, app: Any, port: int = 0, **uvicorn_options: Any):
        import uvicorn

        options = {"log_level": "warning", "timeout_graceful_shutdown": 2} | uvicorn_options
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: float = 10.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + wait
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the server on 127.0.0.1 did not start within {wait:g} s")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
