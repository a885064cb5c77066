"""Prometheus metrics in the text exposition format (0.0.4), written by hand: no dependency.

`Metrics` counts HTTP requests (by endpoint and status), errors, latency (a histogram), tokens,
the scheduler's jobs by outcome and the rows of each batched generate call; the queue depth
and the batch size are read from the scheduler when `/metrics` is scraped. `MetricsMiddleware`
times every HTTP request, streams included (until their last byte).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

PREFIX = "socratic_distill"
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
ENDPOINTS = ("/", "/health", "/metrics", "/v1/models", "/v1/solve", "/v1/solve/stream",
             "/v1/completions", "/v1/chat/completions")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{name}="{_escape(str(value))}"' for name, value in pairs)
    return f"{{{inner}}}" if inner else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Histogram:
    def __init__(self, buckets: Sequence[float]):
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[index] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str, labels: tuple[tuple[str, str], ...] = ()) -> list[str]:
        out = [f"{name}_bucket{_labels((*labels, ('le', _number(bound))))} {count}"
               for bound, count in zip(self.buckets, self.counts, strict=True)]
        out.append(f"{name}_bucket{_labels((*labels, ('le', '+Inf')))} {self.count}")
        out.append(f"{name}_sum{_labels(labels)} {_number(round(self.total, 6))}")
        out.append(f"{name}_count{_labels(labels)} {self.count}")
        return out


class Metrics:
    """Thread-safe counters; `render(gauges)` writes them all as Prometheus text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.errors: Counter[str] = Counter()
        self.latency: dict[str, Histogram] = {}
        self.tokens: Counter[str] = Counter()
        self.jobs: Counter[str] = Counter()
        self.batch_rows = Histogram(ROW_BUCKETS)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(endpoint, str(status))] += 1
            if status >= 400:
                self.errors[endpoint] += 1
            self.latency.setdefault(endpoint, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def observe_job(self, outcome: str, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock:
            self.jobs[outcome] += 1
            self.tokens["prompt"] += prompt_tokens
            self.tokens["completion"] += completion_tokens

    def observe_call(self, rows: int) -> None:
        with self._lock:
            self.batch_rows.observe(rows)

    def render(self, gauges: dict[str, tuple[str, float]] | None = None) -> str:
        """The exposition text; `gauges` maps a name to (help, value)."""
        p = PREFIX
        with self._lock:
            lines = [f"# HELP {p}_requests_total HTTP requests answered, by endpoint and status.",
                     f"# TYPE {p}_requests_total counter"]
            lines += [f"{p}_requests_total{_labels((('endpoint', e), ('status', s)))} {n}"
                      for (e, s), n in sorted(self.requests.items())]
            lines += [f"# HELP {p}_request_errors_total HTTP requests answered with a status >= 400.",
                      f"# TYPE {p}_request_errors_total counter"]
            lines += [f"{p}_request_errors_total{_labels((('endpoint', e),))} {n}"
                      for e, n in sorted(self.errors.items())]
            lines += [f"# HELP {p}_request_duration_seconds Time to answer a request, streams "
                      "included.", f"# TYPE {p}_request_duration_seconds histogram"]
            for endpoint, histogram in sorted(self.latency.items()):
                lines += histogram.lines(f"{p}_request_duration_seconds", (("endpoint", endpoint),))
            lines += [f"# HELP {p}_tokens_total Tokens processed by the students, by kind.",
                      f"# TYPE {p}_tokens_total counter"]
            lines += [f"{p}_tokens_total{_labels((('kind', k),))} {self.tokens[k]}"
                      for k in ("prompt", "completion")]
            lines += [f"# HELP {p}_jobs_total Scheduler jobs finished, by outcome.",
                      f"# TYPE {p}_jobs_total counter"]
            lines += [f"{p}_jobs_total{_labels((('outcome', o),))} {n}"
                      for o, n in sorted(self.jobs.items())]
            lines += [f"# HELP {p}_batch_rows Rows decoded together per generate call.",
                      f"# TYPE {p}_batch_rows histogram", *self.batch_rows.lines(f"{p}_batch_rows")]
        for name, (help_text, value) in sorted((gauges or {}).items()):
            lines += [f"# HELP {p}_{name} {help_text}", f"# TYPE {p}_{name} gauge",
                      f"{p}_{name} {_number(value)}"]
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Pure ASGI: times each HTTP request and records its status (500 if the app raised)."""

    def __init__(self, app: Callable, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        endpoint = path if path in ENDPOINTS else "other"
        start, status = time.perf_counter(), [500]

        async def record_status(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            self.metrics.observe_request(endpoint, status[0], time.perf_counter() - start)
