"""The OpenAI-compatible endpoints: plain httpx, the project's own client, and `annotate`
run end to end against a served student."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from serve_helpers import LiveServer, make_problems

from socratic_distill.infer.generate import generate
from socratic_distill.jsonl import read_jsonl
from socratic_distill.schemas import Annotation
from socratic_distill.serve.app import create_app
from socratic_distill.serve.config import ServeConfig
from socratic_distill.teacher import annotate, make_config
from socratic_distill.teacher.openai_client import OpenAIClient
from socratic_distill.teacher.prompts import Prompt

PROMPT = "Question: Tom has 3 apples and buys 4 more. How many apples?\nQ:"
KEY = "sk-serve-test-7777"


def direct(generators, role: str, prompts: list[str], **settings):
    fn = generators[role]
    model, tokenizer = fn.args
    return generate(model, tokenizer, prompts, **settings)


def test_completions_match_the_student(server, generators):
    response = httpx.post(f"{server.url}/v1/completions", timeout=60, json={
        "model": "qa", "prompt": PROMPT, "max_tokens": 12, "temperature": 0, "stop": ["\n"]})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = direct(generators, "qa", [PROMPT], max_new_tokens=12, stop_strings=["\n"])[0]
    assert body["object"] == "text_completion" and body["model"] == "qa"
    assert body["choices"][0]["text"] == expected.text
    assert body["choices"][0]["finish_reason"] in ("stop", "length")
    assert body["usage"] == {"prompt_tokens": expected.prompt_tokens,
                             "completion_tokens": expected.completion_tokens,
                             "total_tokens": expected.prompt_tokens + expected.completion_tokens}


def test_several_prompts_and_n_choices(server, generators):
    prompts = [PROMPT, "Question: What is 2 plus 3?\nQ:"]
    body = httpx.post(f"{server.url}/v1/completions", timeout=60, json={
        "model": "qg", "prompt": prompts, "max_tokens": 6, "temperature": 0.9, "n": 2,
        "seed": 5}).json()
    assert [c["index"] for c in body["choices"]] == [0, 1, 2, 3]
    expected = direct(generators, "qg", [p for p in prompts for _ in range(2)], max_new_tokens=6,
                      temperature=0.9, seed=[5, 6, 5, 6])
    assert [c["text"] for c in body["choices"]] == [g.text for g in expected]


def test_chat_completions_join_messages_like_the_teacher(server, generators):
    messages = [{"role": "system", "content": "Solve it."},
                {"role": "user", "content": "Question: What is 2 plus 3?"}]
    response = httpx.post(f"{server.url}/v1/chat/completions", timeout=60, json={
        "model": "model", "messages": messages, "max_tokens": 8, "temperature": 0,
        "user": "ignored", "presence_penalty": 0})
    assert response.status_code == 200, response.text
    body = response.json()
    text = Prompt((("system", "Solve it."), ("user", "Question: What is 2 plus 3?"))).text()
    expected = direct(generators, "model", [text], max_new_tokens=8)[0]
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": expected.text}
    assert body["usage"]["prompt_tokens"] == expected.prompt_tokens


@pytest.mark.parametrize("path, body", [
    ("/v1/completions", {"model": "qa", "prompt": PROMPT, "max_tokens": 5, "temperature": 0}),
    ("/v1/chat/completions", {"model": "qa", "messages": [{"role": "user", "content": "Hi"}],
                              "max_tokens": 5, "temperature": 0}),
])
def test_streaming_completions(server, path, body):
    plain = httpx.post(f"{server.url}{path}", json=body, timeout=60).json()
    with httpx.stream("POST", f"{server.url}{path}", json={**body, "stream": True},
                      timeout=60) as response:
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    choice = chunks[0]["choices"][0]
    text = choice["delta"]["content"] if "delta" in choice else choice["text"]
    first = plain["choices"][0]
    assert text == first.get("text", first.get("message", {}).get("content"))
    assert chunks[-1]["usage"] == plain["usage"]


def test_openai_errors(server):
    url = f"{server.url}/v1/completions"
    unknown = httpx.post(url, json={"model": "gpt-4", "prompt": "x"})
    assert unknown.status_code == 404 and "served: model, qa, qg" in unknown.json()["error"]["message"]
    assert httpx.post(url, json={"prompt": "x"}).status_code == 422  # which of three?
    assert httpx.post(url, json={"model": "qa", "prompt": "x", "max_tokens": 5000}).status_code == 422
    assert httpx.post(url, json={"model": "qa", "prompt": "x", "n": 99}).status_code == 422
    assert httpx.post(url, json={"model": "qa"}).status_code == 422
    chat = f"{server.url}/v1/chat/completions"
    assert httpx.post(chat, json={"model": "qa", "messages": []}).status_code == 422
    assert httpx.post(chat, json={"model": "qa", "messages": [{"role": "wizard",
                                                                "content": "x"}]}).status_code == 422
    too_long = httpx.post(url, timeout=60, json={"model": "qa", "prompt": "word " * 3000,
                                                 "max_tokens": 2})
    assert too_long.status_code == 422 and "context window" in too_long.json()["error"]["message"]


def test_one_served_student_answers_to_any_name(generators):
    app = create_app({"model": generators["model"]}, ServeConfig(), methods=["unified"])
    with LiveServer(app) as live:
        body = httpx.post(f"{live.url}/v1/completions", timeout=60, json={
            "model": "whatever-name", "prompt": PROMPT, "max_tokens": 3}).json()
        assert body["model"] == "whatever-name" and len(body["choices"]) == 1


@pytest.fixture(scope="module")
def keyed_server(generators):
    app = create_app({"qa": generators["qa"]}, ServeConfig(), methods=[], api_key=KEY)
    with LiveServer(app) as live:
        yield live


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_the_projects_own_openai_client(keyed_server, api):
    async def ask():
        client = OpenAIClient(f"{keyed_server.url}/v1", "qa", KEY, api=api, timeout=30)
        try:
            payload = {"max_tokens": 8, "temperature": 0}
            payload.update({"messages": [{"role": "user", "content": PROMPT}]} if api == "chat"
                           else {"prompt": PROMPT})
            return await client.complete(payload)
        finally:
            await client.aclose()

    result = asyncio.run(ask())
    assert isinstance(result.text, str)
    assert result.usage["completion_tokens"] >= 1 and result.usage["prompt_tokens"] > 10


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_annotate_against_the_served_student(keyed_server, tmp_path, monkeypatch, api):
    """`annotate --teacher openai:qa --base-url http://127.0.0.1:PORT/v1` end to end: every
    pair gets a record, its text parsed into steps or rejected with a reason."""
    monkeypatch.setenv("SD_SERVE_KEY", KEY)
    problems = make_problems(4)
    config = make_config(teacher="openai:qa", base_url=f"{keyed_server.url}/v1",
                         api_key_env="SD_SERVE_KEY", api=api, max_tokens=24, concurrency=4,
                         timeout=60, max_retries=1, retry_base_delay=0.01)
    out = tmp_path / "teacher.jsonl"
    summary = annotate(problems, config, out, progress=False)
    records = read_jsonl(out, Annotation)
    assert sorted(r.id for r in records) == sorted(p.id for p in problems)
    for record in records:
        assert record.teacher == "openai:qa" and isinstance(record.completion, str)
        assert record.usage["completion_tokens"] >= 1
        assert record.reject_reason or record.steps  # parsed, or rejected with a reason
    assert summary.requests == len(problems)
