"""The `openai:` teacher against a real HTTP server on loopback that misbehaves on purpose."""

from __future__ import annotations

import logging
import re
import socket
import time

import pytest

from socratic_distill.errors import UserError
from socratic_distill.jsonl import read_jsonl
from socratic_distill.schemas import Annotation
from socratic_distill.teacher import annotate, make_config

SECRET = "sk-test-SECRET-4242"
FAST_RETRY = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}


@pytest.fixture(autouse=True)
def _api_key(monkeypatch):
    monkeypatch.setenv("SD_TEST_KEY", SECRET)


def _config(server, **options):
    values = {"teacher": "openai:test-model", "base_url": server.base_url,
              "api_key_env": "SD_TEST_KEY", "concurrency": 4, "timeout": 5, **FAST_RETRY}
    return make_config(**{**values, **options})


def _run(problems, server, out, **options):
    return annotate(problems, _config(server, **options), out, progress=False)


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_annotates_every_pair_through_both_apis(problems, server, tmp_path, api):
    out = tmp_path / "out.jsonl"
    summary = _run(problems, server, out, samples=2, api=api)
    records = read_jsonl(out, Annotation)
    assert sorted((r.id, r.sample) for r in records) == sorted(
        (p.id, s) for p in problems for s in range(2))
    assert summary.kept == 12 and summary.requests == 12 and server.counts["requests"] == 12
    assert all(r.correct and r.usage["completion_tokens"] > 0 for r in records)
    assert summary.prompt_tokens > 0 and summary.problems_with_kept == len(problems)
    assert server.authorizations == {f"Bearer {SECRET}"}


def test_request_bodies_carry_the_prompt_and_parameters(problems, server, tmp_path):
    _run(problems[:1], server, tmp_path / "a.jsonl", api="completions", seed=7, max_tokens=99,
         show_gold=True)
    body = server.last_request
    assert body["model"] == "test-model" and body["max_tokens"] == 99 and body["seed"] == 7
    assert body["temperature"] == 0.0 and body["stop"] == ["\nProblem:", "\nFacts:"]
    assert body["prompt"].endswith("Reference solution: 2 + 0 = <<2+0=2>>2 apples.\n"
                                   "2 * 2 = <<2*2=4>>4 apples.\n")
    _run(problems[:1], server, tmp_path / "b.jsonl", samples=2, temperature=0.9)
    body = server.last_request
    assert "seed" not in body and body["temperature"] == 0.9
    assert [m["role"] for m in body["messages"]] == ["system"] + ["user", "assistant"] * 3 + ["user"]


def test_rerun_is_served_from_the_cache(problems, server, tmp_path):
    _run(problems, server, tmp_path / "a.jsonl", cache=tmp_path / "cache.sqlite")
    again = _run(problems, server, tmp_path / "b.jsonl", cache=tmp_path / "cache.sqlite")
    assert again.requests == 0 and again.cache_hits == len(problems) and again.kept == 6
    assert server.counts["requests"] == len(problems)
    # Other sampling parameters are other completions: paid for again.
    other = _run(problems, server, tmp_path / "c.jsonl", cache=tmp_path / "cache.sqlite",
                 temperature=0.5)
    assert other.requests == len(problems)


def test_faults_are_retried_until_an_answer_comes(problems, server, tmp_path):
    server.script.extend(["429", "500", "malformed", "nochoices", "drop", "500", "429"])
    summary = _run(problems, server, tmp_path / "out.jsonl", concurrency=2)
    assert summary.kept == len(problems) and summary.requests == len(problems)
    assert server.counts["requests"] == len(problems) + 7
    assert server.counts["drop"] == 1 and server.counts["malformed"] == 1


def test_retry_after_is_honoured(problems, server, tmp_path):
    server.script.append("429:0.4")
    start = time.monotonic()
    _run(problems[:1], server, tmp_path / "out.jsonl", concurrency=1, retry_max_delay=1.0)
    assert time.monotonic() - start >= 0.4
    assert server.counts["429:0.4"] == 1 and server.counts["ok"] == 1


def test_an_endpoint_that_never_answers_is_a_clear_error(problems, server, tmp_path):
    server.script.extend(["ok", "ok"])
    server.default_fault = "hang"
    out = tmp_path / "out.jsonl"
    start = time.monotonic()
    with pytest.raises(UserError) as caught:
        _run(problems, server, out, concurrency=1, timeout=0.2, max_retries=2)
    assert time.monotonic() - start < 5
    message = str(caught.value)
    assert "gave no usable answer after 3 attempts" in message and "timeout" in message
    assert "rerun the same command to resume" in message
    records = read_jsonl(out, Annotation)  # still valid JSONL, with what was done
    assert len(records) == 2
    server.default_fault = "ok"
    summary = _run(problems, server, out)
    assert summary.resumed == 2 and summary.written == 4 and summary.complete


def test_a_closed_port_is_a_clear_error(problems, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = make_config(teacher="openai:m", base_url=f"http://127.0.0.1:{port}/v1",
                         api_key_env="SD_TEST_KEY", max_retries=1, **FAST_RETRY)
    with pytest.raises(UserError, match="connection error"):
        annotate(problems, config, tmp_path / "out.jsonl", progress=False)


def test_a_refused_request_is_left_for_later_not_written(problems, server, tmp_path):
    server.script.append("400")
    out = tmp_path / "out.jsonl"
    summary = _run(problems, server, out, concurrency=1)
    assert summary.written == len(problems) - 1 and not summary.complete
    [(reason, count)] = summary.not_done.items()
    assert count == 1 and reason.startswith("request rejected: HTTP 400")
    assert _run(problems, server, out).complete


def test_an_endpoint_that_refuses_everything_stops_the_run(problems, server, tmp_path):
    from teacher_helpers import sum_problem

    server.default_fault = "400"
    many = [sum_problem(index) for index in range(20)]
    with pytest.raises(UserError, match="refused 10 requests in a row"):
        _run(many, server, tmp_path / "out.jsonl", concurrency=1)


@pytest.mark.parametrize(("fault", "message"), [
    ("401", "refused the API key (HTTP 401)"), ("404", "answered 404 for model `test-model`")])
def test_configuration_errors_are_not_retried(problems, server, tmp_path, fault, message):
    server.default_fault = fault
    with pytest.raises(UserError, match=re.escape(message)):
        _run(problems, server, tmp_path / "out.jsonl", concurrency=1)
    assert server.counts["requests"] == 1


def test_max_requests_stops_cleanly_and_a_rerun_continues(problems, server, tmp_path):
    out = tmp_path / "out.jsonl"
    summary = _run(problems, server, out, samples=2, max_requests=5, concurrency=3)
    assert summary.requests == 5 and summary.written == 5 and server.counts["requests"] == 5
    assert summary.stopped.startswith("budget: max_requests (5)")
    assert summary.not_done == {summary.stopped: 7}
    assert "7 pairs not done: budget" in summary.format()
    summary = _run(problems, server, out, samples=2)
    assert summary.complete and summary.written == 7 and server.counts["requests"] == 12


def test_max_cost_stops_cleanly(problems, server, tmp_path):
    prices = {"prompt": 1000.0, "completion": 1000.0}  # USD per million tokens
    out = tmp_path / "out.jsonl"
    one = _run(problems[:1], server, tmp_path / "probe.jsonl", prices=prices,
               cache=tmp_path / "probe.sqlite").cost
    summary = _run(problems, server, out, concurrency=1, prices=prices, max_cost=2.5 * one)
    assert summary.requests == 3 and summary.stopped.startswith("budget: max_cost")
    assert summary.cost == pytest.approx(3 * one)


def test_the_api_key_is_never_written_or_logged(problems, server, tmp_path, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    server.script.extend(["500", "429:0.01", "drop"])
    out, cache = tmp_path / "out.jsonl", tmp_path / "cache.sqlite"
    annotate(problems, _config(server, cache=cache), out, progress=True)
    server.default_fault = "hang"
    with pytest.raises(UserError) as caught:
        annotate(problems, _config(server, cache=cache, samples=2, timeout=0.1, max_retries=1),
                 out, progress=True)
    captured = capfd.readouterr()
    assert server.authorizations == {f"Bearer {SECRET}"}
    texts = [out.read_bytes(), *(path.read_bytes() for path in tmp_path.glob("cache.sqlite*")),
             caplog.text.encode(), captured.out.encode(), captured.err.encode(),
             str(caught.value).encode()]
    assert all(SECRET.encode() not in text for text in texts)
    assert "annotate [" in captured.err  # the progress bar went to stderr


def test_missing_key_for_the_openai_endpoint(problems, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UserError, match=r"set \$OPENAI_API_KEY"):
        annotate(problems, make_config(teacher="openai:gpt-4o-mini"), tmp_path / "o.jsonl")
