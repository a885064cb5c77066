"""`load_app` and `serve`: students from their directories, checks, the API key, the host."""

from __future__ import annotations

import logging

import httpx
import pytest
import uvicorn
from serve_helpers import LiveServer, make_problems, make_student, save_student

from socratic_distill.errors import UserError
from socratic_distill.serve import ServeConfig, load_app, make_serve_config, serve
from socratic_distill.serve.server import is_loopback

QUESTION = make_problems(1)[0].question


@pytest.fixture(scope="module")
def dirs(tok, tmp_path_factory):
    root = tmp_path_factory.mktemp("students")
    return {task: save_student(make_student(tok, seed), tok, root / f"{task}-student", task)
            for task, seed in (("qg", 1), ("qa", 2), ("unified", 3))}


def test_serves_a_decomposer_and_a_solver(dirs):
    app = load_app(qg=dirs["qg"], qa=dirs["qa"], config=ServeConfig(max_new_tokens=4))
    with LiveServer(app) as live:
        assert httpx.get(f"{live.url}/health").json()["methods"] == ["socratic"]
        answer = httpx.post(f"{live.url}/v1/solve", timeout=60,
                            json={"question": QUESTION, "max_steps": 2})
        assert answer.status_code == 200 and len(answer.json()["steps"]) <= 2
        names = {m["id"] for m in httpx.get(f"{live.url}/v1/models").json()["data"]}
        assert names == {"qg", "qa", "qg-student", "qa-student"}
        by_dir = httpx.post(f"{live.url}/v1/completions", timeout=60, json={
            "model": "qa-student", "prompt": "Q:", "max_tokens": 2})
        assert by_dir.status_code == 200


def test_a_unified_student_serves_as_decomposer_and_solver(dirs):
    app = load_app(qg=dirs["unified"], qa=dirs["unified"])
    assert app.state.serve.methods == ["socratic"]


def test_serves_a_unified_model_and_socratic_together(dirs):
    app = load_app(qg=dirs["qg"], qa=dirs["qa"], model=dirs["unified"])
    assert app.state.serve.methods == ["socratic", "unified"]


@pytest.mark.parametrize("kwargs, says", [
    ({}, "--model DIR, or --qg DIR and --qa DIR"),
    ({"qg": "qg"}, "both --qg DIR"),
    ({"model": "qg"}, "--model serves an answer, cot or unified student"),
    ({"qg": "qa", "qa": "qa"}, "expected a `qg` or `unified` student"),
])
def test_wrong_students_are_user_errors(dirs, kwargs, says):
    with pytest.raises(UserError, match=says):
        load_app(**{role: dirs[task] for role, task in kwargs.items()})


def test_api_key_from_the_environment_never_logged(dirs, monkeypatch, caplog):
    with pytest.raises(UserError, match=r"\$SERVE_TEST_KEY is not set"):
        load_app(model=dirs["unified"], api_key_env="SERVE_TEST_KEY")
    monkeypatch.setenv("SERVE_TEST_KEY", "k-123-secret")
    ran = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: ran.update(app=app, **kwargs))
    with caplog.at_level(logging.DEBUG):
        serve(model=dirs["unified"], api_key_env="SERVE_TEST_KEY", host="0.0.0.0", port=8123)
    assert ran["host"] == "0.0.0.0" and ran["port"] == 8123
    assert ran["app"].state.serve.api_key == "k-123-secret"
    assert "k-123-secret" not in caplog.text and "API key required" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        serve(model=dirs["unified"], host="0.0.0.0")
    assert "without an API key" in caplog.text
    serve(model=dirs["unified"])
    assert ran["host"] == "127.0.0.1" and ran["port"] == 8000  # loopback by default


def test_loopback_and_settings():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    with pytest.raises(UserError, match="`max_samples`"):
        make_serve_config(max_samples=10, max_batch_rows=4)
    with pytest.raises(UserError, match="`queue_size`"):
        make_serve_config(queue_size=-1)
    with pytest.raises(UserError, match="`colour`"):
        make_serve_config(colour=1)
