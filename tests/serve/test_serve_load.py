"""Load on loopback, bounded in requests and time: many concurrent clients, each request
answered (with its own question's answer) or refused with 503; none lost or mixed up."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from serve_helpers import BUDGET, LiveServer, make_problems

from socratic_distill.infer.config import make_config
from socratic_distill.infer.solvers import solve
from socratic_distill.schemas import Problem
from socratic_distill.serve.app import create_app
from socratic_distill.serve.config import ServeConfig

CLIENTS, REQUESTS, DISTINCT = 48, 96, 24


async def _one(client: httpx.AsyncClient, url: str, body: dict, stream: bool):
    if not stream:
        response = await client.post(f"{url}/v1/solve", json=body)
        payload = response.json() if response.status_code == 200 else None
        return response.status_code, response.headers.get("retry-after"), payload
    async with client.stream("POST", f"{url}/v1/solve/stream", json=body) as response:
        if response.status_code != 200:
            await response.aread()
            return response.status_code, response.headers.get("retry-after"), None
        final = None
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                final = json.loads(line[5:])
        return 200, None, final


async def _load(url: str, bodies: list[dict]) -> list:
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        queue = list(enumerate(bodies))
        results: list = [None] * len(bodies)

        async def worker():
            while queue:
                index, body = queue.pop()
                results[index] = await _one(client, url, body, stream=index % 2 == 1)

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(CLIENTS))), 240)
        return results


@pytest.mark.slow
def test_concurrent_clients_get_their_own_answers_or_503(generators):
    questions = [p.question for p in make_problems(DISTINCT)]
    bodies = [{"question": questions[i % DISTINCT], "max_steps": 1 + i % 3}
              for i in range(REQUESTS)]
    roles = {"qg": generators["qg"], "qa": generators["qa"]}
    expected = {}
    for body in bodies[:3 * DISTINCT]:  # every (question, max_steps) pair, solved alone
        key = (body["question"], body["max_steps"])
        if key not in expected:
            config = make_config(method="socratic", max_new_tokens=BUDGET,
                                 max_steps=body["max_steps"])
            problem = Problem(id="alone", question=key[0], answer="", answer_type="number")
            expected[key] = solve([problem], roles, config)[0]
    assert len({p.prediction for p in expected.values()}) > len(expected) // 2  # mix-ups show
    config = ServeConfig(max_new_tokens=BUDGET, max_batch_rows=16, queue_size=16, timeout=120)
    with LiveServer(create_app(roles, config)) as live:
        start = time.monotonic()
        results = asyncio.run(_load(live.url, bodies))
        seconds = time.monotonic() - start
        health = httpx.get(f"{live.url}/health").json()
        metrics = httpx.get(f"{live.url}/metrics").text
    assert all(result is not None for result in results)  # none lost
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 16
    for body, (status, retry_after, answer) in zip(bodies, results, strict=True):
        if status == 503:
            assert retry_after == "1"
            continue
        reference = expected[(body["question"], body["max_steps"])]
        assert answer["answer"] == reference.answer
        assert answer["text"] == reference.prediction  # its own question's dialogue
        assert len(answer["steps"]) == len(reference.steps or [])
    assert (health["active"], health["queued"]) == (0, 0)
    served = sum(int(float(line.rsplit(" ", 1)[1])) for line in metrics.splitlines()
                 if line.startswith("socratic_distill_requests_total{endpoint=\"/v1/solve"))
    assert served == REQUESTS
    assert seconds < 240
    print(f"\n{REQUESTS} requests, {CLIENTS} clients: {statuses.count(200)} answered, "
          f"{statuses.count(503)} refused (503), {seconds:.1f}s")
