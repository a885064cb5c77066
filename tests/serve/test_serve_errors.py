"""Bad input, a full queue, timeouts, API keys, and clients that leave mid-stream."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from serve_helpers import Gate, LiveServer, Slow, make_problems, make_steered

from socratic_distill.infer.generate import hf_generator
from socratic_distill.serve.app import create_app
from socratic_distill.serve.config import ServeConfig

QUESTION = make_problems(1)[0].question


def post(server, body, path="/v1/solve", **kwargs):
    return httpx.post(f"{server.url}{path}", json=body, timeout=60, **kwargs)


def message(response) -> str:
    return response.json()["error"]["message"]


@pytest.mark.parametrize("body, field", [
    ({"question": ""}, "question"),
    ({"question": "   \n "}, "question"),
    ({"question": "x" * 2001}, "question"),
    ({"question": QUESTION, "method": "telepathy"}, "method"),
    ({"question": QUESTION, "method": "cot"}, "method"),  # a method this server does not serve
    ({"question": QUESTION, "max_steps": 0}, "max_steps"),
    ({"question": QUESTION, "max_steps": 99}, "max_steps"),
    ({"question": QUESTION, "samples": 50}, "samples"),
    ({"question": QUESTION, "samples": 2, "temperature": 0}, "temperature"),
    ({"question": QUESTION, "colour": "blue"}, "colour"),
    ({"question": ["not", "text"]}, "question"),
    ({}, "question"),
])
def test_invalid_fields_are_422_with_a_message(server, body, field):
    response = post(server, body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert field in error["message"] and error["type"] == "invalid_request_error"
    stream = post(server, body, "/v1/solve/stream")
    assert stream.status_code == 422 and field in message(stream)


def test_messages_say_what_to_fix(server):
    assert "at most 2000" in message(post(server, {"question": "x" * 2001}))
    assert "serves: socratic, unified" in message(post(server, {"question": "q", "method": "cot"}))
    assert "must not be empty" in message(post(server, {"question": " "}))


@pytest.mark.parametrize("content", [b'{"question": "unterminated', b"not json at all", b""])
def test_malformed_json_is_400(server, content):
    for path in ("/v1/solve", "/v1/solve/stream", "/v1/completions", "/v1/chat/completions"):
        response = httpx.post(f"{server.url}{path}", content=content,
                              headers={"content-type": "application/json"})
        assert response.status_code == 400, (path, response.text)
        assert message(response)


def test_a_body_that_is_not_a_json_object(server):
    plain = httpx.post(f"{server.url}/v1/solve", content=b'{"question": "hi"}',
                       headers={"content-type": "text/plain"})
    assert plain.status_code == 400 and "application/json" in message(plain)
    listed = httpx.post(f"{server.url}/v1/solve", json=["question"])
    assert listed.status_code == 422 and "JSON object" in message(listed)


def test_oversized_body_is_413_and_unknown_route_404(server):
    response = httpx.post(f"{server.url}/v1/solve", content=b"x" * 300_000,
                          headers={"content-type": "application/json"})
    assert response.status_code == 413 and "bytes" in message(response)

    def chunked(size: int):  # no Content-Length: counted while read
        yield b'{"question": "'
        yield b"x" * size
        yield b'", "max_steps": 1}'

    headers = {"content-type": "application/json"}
    big = httpx.post(f"{server.url}/v1/solve", content=chunked(300_000), headers=headers)
    assert big.status_code == 413
    small = httpx.post(f"{server.url}/v1/solve", content=chunked(3000), headers=headers)
    assert small.status_code == 422 and "at most 2000" in message(small)
    missing = httpx.get(f"{server.url}/v2/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"


def test_api_key_is_required_and_checked(generators):
    app = create_app(generators, ServeConfig(max_new_tokens=4), methods=["socratic"],
                     api_key="s3cret-key")
    body = {"question": QUESTION, "max_steps": 1}
    with LiveServer(app) as live:
        assert httpx.get(f"{live.url}/health").json()["auth"] is True  # open: the page needs it
        assert httpx.get(f"{live.url}/").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "s3cret-ke"}):
            refused = post(live, body, headers=headers)
            assert refused.status_code == 401 and "s3cret" not in refused.text
        assert httpx.get(f"{live.url}/metrics").status_code == 401
        assert post(live, body, headers={"Authorization": "Bearer s3cret-key"}).status_code == 200
        assert post(live, body, headers={"X-API-Key": "s3cret-key"}).status_code == 200
        assert httpx.get(f"{live.url}/metrics", headers={"X-API-Key": "s3cret-key"}).is_success


@pytest.fixture
def gated(tok):
    """A server with a batch of one request and a queue of one, whose decomposer waits on a
    gate: the first request holds the batch until the test opens the gate."""
    qg = Gate(hf_generator(make_steered(tok, 1), tok))
    qa = Slow(hf_generator(make_steered(tok, 2), tok), delay=0.05)  # a dialogue lasts a while
    config = ServeConfig(max_batch_rows=1, max_samples=1, queue_size=1, retry_after=3,
                         max_new_tokens=4, timeout=30)
    with LiveServer(create_app({"qg": qg, "qa": qa}, config)) as live:
        live.gate = qg
        yield live
        qg.open.set()


def _in_thread(fn):
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", fn()), daemon=True)
    thread.start()
    return thread, box


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def load(server) -> tuple[int, int]:
    health = httpx.get(f"{server.url}/health").json()
    return health["active"], health["queued"]


def test_full_queue_is_503_with_retry_after(gated):
    body = {"question": QUESTION, "max_steps": 1}
    first, first_box = _in_thread(lambda: post(gated, body))
    wait_for(gated.gate.entered.is_set)  # in the batch, generating
    second, second_box = _in_thread(lambda: post(gated, body))
    wait_for(lambda: load(gated) == (1, 1))  # waiting in the queue
    refused = post(gated, body)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "3"
    assert "busy" in message(refused)
    assert post(gated, body, "/v1/solve/stream").status_code == 503
    assert httpx.post(f"{gated.url}/v1/completions", timeout=10,
                      json={"model": "qa", "prompt": "Q:", "max_tokens": 2}).status_code == 503
    gated.gate.open.set()
    first.join(30)
    second.join(30)
    assert first_box["result"].status_code == second_box["result"].status_code == 200
    assert load(gated) == (0, 0)


def test_a_request_past_its_timeout_is_504(tok):
    qg = Gate(hf_generator(make_steered(tok, 1), tok))
    qa = hf_generator(make_steered(tok, 2), tok)
    config = ServeConfig(max_batch_rows=1, max_samples=1, max_new_tokens=4, timeout=0.5)
    with LiveServer(create_app({"qg": qg, "qa": qa}, config)) as live:
        _, first_box = _in_thread(lambda: post(live, {"question": QUESTION, "max_steps": 4}))
        wait_for(qg.entered.is_set)
        _, queued_box = _in_thread(lambda: post(live, {"question": QUESTION, "max_steps": 1}))
        time.sleep(0.8)
        qg.open.set()
        wait_for(lambda: "result" in first_box and "result" in queued_box, 20)
        for box in (first_box, queued_box):  # one timed out in the batch, one in the queue
            assert box["result"].status_code == 504 and "timed out" in message(box["result"])
        metrics = httpx.get(f"{live.url}/metrics").text
        assert 'socratic_distill_jobs_total{outcome="timeout"} 2' in metrics


def test_a_client_that_leaves_mid_stream_frees_its_batch_slot(gated):
    """The first client streams, sees its first subquestion, and leaves; its job leaves the
    batch at the next step boundary, and the request waiting for the slot is served."""
    client = httpx.Client(timeout=30)
    with client.stream("POST", f"{gated.url}/v1/solve/stream",
                       json={"question": QUESTION, "max_steps": 16}) as response:
        lines = response.iter_lines()
        assert next(lines) == "event: start"
        wait_for(gated.gate.entered.is_set)
        waiting, box = _in_thread(lambda: post(gated, {"question": QUESTION, "max_steps": 1}))
        wait_for(lambda: load(gated) == (1, 1))
        gated.gate.open.set()
        assert next(line for line in lines if line.startswith("event:")) == "event: subquestion"
    client.close()  # the connection goes away mid-dialogue (16 steps asked)
    waiting.join(30)
    assert box["result"].status_code == 200
    wait_for(lambda: load(gated) == (0, 0))
    metrics = httpx.get(f"{gated.url}/metrics").text
    assert 'socratic_distill_jobs_total{outcome="cancelled"} 1' in metrics
    calls = len(gated.gate.calls)
    assert calls < 16  # the abandoned dialogue did not run on to its 16 steps
    time.sleep(0.3)
    assert len(gated.gate.calls) == calls


def test_a_client_that_leaves_the_queue_frees_its_place(gated):
    body = {"question": QUESTION, "max_steps": 1}
    first, first_box = _in_thread(lambda: post(gated, body))
    wait_for(gated.gate.entered.is_set)
    client = httpx.Client(timeout=30)
    with client.stream("POST", f"{gated.url}/v1/solve/stream", json=body) as response:
        lines = response.iter_lines()  # kept: a dropped iterator closes the connection
        assert next(lines) == "event: start"
        wait_for(lambda: load(gated) == (1, 1))
    client.close()
    wait_for(lambda: load(gated) == (1, 0), 5)  # gone from the queue, before any turn ends
    gated.gate.open.set()
    first.join(30)
    assert first_box["result"].status_code == 200
