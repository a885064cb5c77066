"""The HTTP API on a live server with tiny real students: each endpoint, streaming, metrics."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from serve_helpers import BUDGET, LiveServer, make_problems, make_steered

from socratic_distill.infer.config import make_config
from socratic_distill.infer.generate import hf_generator
from socratic_distill.infer.solvers import solve
from socratic_distill.schemas import Problem, Step
from socratic_distill.serve.app import create_app
from socratic_distill.serve.config import ServeConfig
from socratic_distill.serve.scheduler import SolveSpec

QUESTION = make_problems(3)[2].question


def read_sse(response: httpx.Response) -> list[tuple[str, dict]]:
    """The (event, data) pairs of a server-sent event stream; comments are skipped."""
    events, kind, data = [], "message", ""
    for line in response.iter_lines():
        if line.startswith(":"):
            continue
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
        elif not line and data:
            events.append((kind, json.loads(data)))
            kind, data = "message", ""
    return events


def alone(generators, question: str, method: str = "socratic", **fields):
    """The same question solved by `solve` on its own: what the server must answer."""
    roles = {k: generators[k] for k in (("qg", "qa") if method == "socratic" else ("model",))}
    config = make_config(method=method, max_new_tokens=BUDGET, **fields)
    key = SolveSpec(question, None, "number", config).key  # sampling seeds hang on the id
    problem = Problem(id=key, question=question, answer="", answer_type="number")
    return solve([problem], roles, config)[0]


def same_as_alone(answer: dict, reference) -> None:
    assert answer["answer"] == reference.answer
    assert [Step(**step) for step in answer["steps"]] == (reference.steps or [])
    assert answer["text"] == reference.prediction
    assert answer["tokens"]["prompt"] == reference.prompt_tokens
    assert answer["tokens"]["completion"] == reference.completion_tokens


def test_health_and_models(server):
    health = httpx.get(f"{server.url}/health").json()
    assert health["status"] == "ok" and health["methods"] == ["socratic", "unified"]
    assert health["batching"] is True and health["auth"] is False
    assert {"active", "queued"} <= set(health)
    models = httpx.get(f"{server.url}/v1/models").json()
    assert {m["id"] for m in models["data"]} == {"qg", "qa", "model"}


@pytest.mark.parametrize("method", ["socratic", "unified"])
def test_solve_answers_what_solve_alone_answers(server, generators, method):
    response = httpx.post(f"{server.url}/v1/solve", timeout=60,
                          json={"question": QUESTION, "method": method, "max_steps": 3})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert {"answer", "steps", "tokens", "seconds"} <= set(answer)
    assert answer["method"] == method and answer["seconds"] > 0
    assert answer["tokens"]["total"] == answer["tokens"]["prompt"] + answer["tokens"]["completion"]
    same_as_alone(answer, alone(generators, QUESTION, method, max_steps=3))


def test_default_method_calculator_and_samples(server, generators):
    plain = httpx.post(f"{server.url}/v1/solve", timeout=60,
                       json={"question": QUESTION, "max_steps": 2, "calculator": False}).json()
    assert plain["method"] == "socratic"
    same_as_alone(plain, alone(generators, QUESTION, max_steps=2, calculator=False))
    voted = httpx.post(f"{server.url}/v1/solve", timeout=60,
                       json={"question": QUESTION, "max_steps": 2, "samples": 3}).json()
    assert len(voted["samples"]) == 3
    reference = alone(generators, QUESTION, max_steps=2, samples=3, temperature=0.7)
    assert voted["samples"] == reference.samples and voted["answer"] == reference.answer


@pytest.fixture(scope="module")
def dialogue_server(tok):
    """Students that never end a dialogue early: every request runs `max_steps` steps."""
    generators = {"qg": hf_generator(make_steered(tok, 1), tok),
                  "qa": hf_generator(make_steered(tok, 2), tok)}
    with LiveServer(create_app(generators, ServeConfig(max_new_tokens=6))) as live:
        yield live


def check_order(events: list[tuple[str, dict]], steps: int) -> None:
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "final"
    assert kinds[1:-1] == ["subquestion", "solution"] * steps
    for number, (question, solution) in enumerate(zip(events[1:-1:2], events[2:-1:2],
                                                      strict=True), start=1):
        assert question[1]["step"] == solution[1]["step"] == number
        assert solution[1]["subquestion"] == question[1]["subquestion"]
    final = events[-1][1]
    assert [s["solution"] for s in final["steps"]] == [d["solution"] for _, d in events[2:-1:2]]


def test_stream_sends_each_subquestion_before_its_solution_then_the_answer(dialogue_server):
    with httpx.stream("POST", f"{dialogue_server.url}/v1/solve/stream", timeout=60,
                      json={"question": QUESTION, "max_steps": 3}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_sse(response)
    check_order(events, 3)
    plain = httpx.post(f"{dialogue_server.url}/v1/solve", timeout=60,
                       json={"question": QUESTION, "max_steps": 3}).json()
    assert {k: v for k, v in events[-1][1].items() if k not in ("id", "seconds")} == \
        {k: v for k, v in plain.items() if k not in ("id", "seconds")}


def test_stream_flag_on_solve_streams_too(dialogue_server):
    with httpx.stream("POST", f"{dialogue_server.url}/v1/solve", timeout=60,
                      json={"question": QUESTION, "max_steps": 2, "stream": True}) as response:
        check_order(read_sse(response), 2)


def test_stream_with_samples_tags_each_event(dialogue_server):
    with httpx.stream("POST", f"{dialogue_server.url}/v1/solve/stream", timeout=60,
                      json={"question": QUESTION, "max_steps": 2, "samples": 2}) as response:
        events = read_sse(response)
    for sample in (0, 1):
        mine = [(k, d) for k, d in events if d.get("sample") == sample]
        assert [k for k, _ in mine] == ["subquestion", "solution"] * 2
    assert len(events[-1][1]["samples"]) == 2


def test_metrics_are_prometheus_text(server):
    httpx.post(f"{server.url}/v1/solve", json={"question": QUESTION, "max_steps": 1}, timeout=60)
    httpx.post(f"{server.url}/v1/solve", json={"question": ""}, timeout=60)
    response = httpx.get(f"{server.url}/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-z_]+="[^"]*",?)*\})? -?[0-9.e+]+$')
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or sample.match(line), line
    values = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
              for line in text.splitlines() if not line.startswith("#")}
    assert values['socratic_distill_requests_total{endpoint="/v1/solve",status="200"}'] >= 1
    assert values['socratic_distill_requests_total{endpoint="/v1/solve",status="422"}'] >= 1
    assert values['socratic_distill_request_errors_total{endpoint="/v1/solve"}'] >= 1
    assert values['socratic_distill_request_duration_seconds_bucket{endpoint="/v1/solve",le="+Inf"}'] \
        == values['socratic_distill_request_duration_seconds_count{endpoint="/v1/solve"}'] >= 2
    assert values['socratic_distill_tokens_total{kind="prompt"}'] > 0
    assert values['socratic_distill_tokens_total{kind="completion"}'] > 0
    assert values['socratic_distill_jobs_total{outcome="done"}'] >= 1
    assert values["socratic_distill_queue_depth"] == 0
    assert values['socratic_distill_batch_rows_count'] >= 1


def test_page_is_self_contained(server):
    response = httpx.get(f"{server.url}/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "/v1/solve/stream" in html and 'id="question"' in html
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", html)
    assert "http://" not in html and "https://" not in html and "@import" not in html
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
