"""An async client for OpenAI-compatible endpoints (OpenAI, vLLM, llama.cpp, Ollama).

Both APIs: `chat` (`POST {base_url}/chat/completions`) and `completions`
(`POST {base_url}/completions`). Every request has its own timeout and is retried with
exponential backoff and jitter on 429, 5xx, timeouts, dropped connections and malformed bodies,
waiting at least what a `Retry-After` header asks (up to `retry_max_delay`). When the retries
run out, `TeacherUnavailable` (a `UserError`) says what the endpoint did. Other 4xx answers
are not retried: 401/403/404 are configuration errors (`UserError`), and the rest (e.g. 400
for a too-long prompt) are `RequestRejected`, a failure of that one request.

The API key is read from an environment variable by the caller and lives only in the request
header; it is never logged, and any echo of it in an error message is masked.

httpx's connection pool checks every connection on every request, which makes it the
bottleneck past a few dozen connections; the client therefore keeps `concurrency` clients of
one connection each (sharing one TLS context) and lends one to each request.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from socratic_distill.errors import UserError

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 425, 429}


class TeacherUnavailable(UserError):
    """The endpoint gave no usable answer after every retry."""


class RequestRejected(Exception):
    """The endpoint refused this one request (4xx other than auth/not found); not retried."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter (half to all of base * 2^attempt), >= Retry-After."""
        backoff = min(self.max_delay, self.base_delay * 2**attempt)
        jittered = backoff * random.uniform(0.5, 1.0)
        if retry_after is not None:
            return max(jittered, min(retry_after, self.max_delay))
        return jittered


@dataclass(frozen=True)
class ApiResult:
    text: str
    usage: dict[str, int] | None


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class OpenAIClient:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None,
        *,
        api: str = "chat",
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        concurrency: int = 8,
    ):
        self.base_url, self.model, self.api = base_url.rstrip("/"), model, api
        self.retry = retry or RetryPolicy()
        httpx_log = logging.getLogger("httpx")
        if httpx_log.level == logging.NOTSET:  # one INFO line per request would drown the bar
            httpx_log.setLevel(logging.WARNING)
        self._secret = api_key or None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Plain http needs no certificates; loading them costs tens of milliseconds.
        verify = httpx.create_ssl_context() if self.base_url.startswith("https") else False
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self._clients = [
            httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(timeout), limits=limits,
                              verify=verify)
            for _ in range(max(1, concurrency))
        ]
        self._idle: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for client in self._clients:
            self._idle.put_nowait(client)
        self.url = f"{self.base_url}/{'chat/completions' if api == 'chat' else 'completions'}"

    async def aclose(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self._clients))

    def _mask(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    async def complete(self, payload: dict[str, Any]) -> ApiResult:
        """POST one request (`model` is added) and return its text and usage, retrying."""
        body = {"model": self.model, **payload}
        last = ""
        for attempt in range(self.retry.max_retries + 1):
            client = await self._idle.get()
            try:
                return await self._attempt(client, body)
            except _Retryable as error:
                last, retry_after = self._mask(str(error)), error.retry_after
            finally:
                self._idle.put_nowait(client)
            if attempt == self.retry.max_retries:
                break
            delay = self.retry.delay(attempt, retry_after)
            log.info("teacher request failed (%s); retry %d/%d in %.2fs",
                     last, attempt + 1, self.retry.max_retries, delay)
            await asyncio.sleep(delay)
        raise TeacherUnavailable(
            f"teacher endpoint {self.url} gave no usable answer after "
            f"{self.retry.max_retries + 1} attempts (last: {last}); check that the server is "
            "up and `base_url` is right, or raise `max_retries`/`timeout`"
        )

    async def _attempt(self, client: httpx.AsyncClient, body: dict[str, Any]) -> ApiResult:
        try:
            response = await client.post(self.url, json=body)
        except httpx.TimeoutException as error:
            raise _Retryable(f"timeout ({type(error).__name__})") from None
        except httpx.TransportError as error:  # refused, reset, closed mid-answer
            raise _Retryable(f"connection error ({type(error).__name__}: {error})") from None
        status = response.status_code
        if status == 200:
            return self._read(response)
        detail = self._mask(response.text[:300].strip())
        if status == 429 or status >= 500 or status in RETRY_STATUS:
            raise _Retryable(f"HTTP {status}: {detail}", _retry_after(response))
        if status in (401, 403):
            raise UserError(
                f"teacher endpoint {self.url} refused the API key (HTTP {status}): check the "
                "variable named by `api_key_env`"
            )
        if status == 404:
            raise UserError(
                f"teacher endpoint {self.url} answered 404 for model `{self.model}`: check "
                f"`base_url`, the model name and `api` ({self.api}); {detail}"
            )
        raise RequestRejected(f"HTTP {status}: {detail}")

    def _read(self, response: httpx.Response) -> ApiResult:
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] if self.api == "chat" else choice["text"]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise _Retryable(f"malformed answer ({type(error).__name__})") from None
        if not isinstance(text, str):
            text = ""  # some servers send null content for an empty completion
        usage = data.get("usage") or None
        if isinstance(usage, dict):
            usage = {k: int(v) for k, v in usage.items() if isinstance(v, (int, float))}
        else:
            usage = None
        return ApiResult(text, usage)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a `Retry-After` header: a number or an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
