"""`serve` with a verifier: requests of several samples get the best-scored sample's answer,
and the answer carries every sample's score."""

from __future__ import annotations

import httpx
import pytest
from serve_helpers import BUDGET, LiveServer, make_problems, make_student, save_student

from socratic_distill.errors import UserError
from socratic_distill.serve import ServeConfig, load_app
from socratic_distill.serve.app import create_app

QUESTION = make_problems(2)[1].question


def length_scorer(prompts):
    """A rule-based verifier, deterministic and varied: it favours some lengths of text."""
    return [(len(prompt) * 37 % 101) / 101 for prompt in prompts]


@pytest.fixture(scope="module")
def ranked(generators):
    app = create_app(generators, ServeConfig(max_new_tokens=BUDGET, timeout=60),
                     methods=["socratic", "unified"], scorer=length_scorer)
    with LiveServer(app) as live:
        yield live


@pytest.mark.parametrize("method", ["socratic", "unified"])
def test_several_samples_give_the_best_scored_answer(ranked, method):
    body = {"question": QUESTION, "method": method, "samples": 4, "max_steps": 2, "seed": 3}
    final = httpx.post(f"{ranked.url}/v1/solve", json=body, timeout=60).json()
    scores, answers = final["scores"], final["samples"]
    assert len(scores) == len(answers) == 4
    best = max(s for s in scores if s is not None)
    assert final["score"] == best
    assert final["answer"] == answers[scores.index(best)]
    # The same request streamed ends in the same final answer and score.
    with httpx.stream("POST", f"{ranked.url}/v1/solve/stream", json=body, timeout=60) as response:
        last = [line for line in response.iter_lines() if line.startswith("data:")][-1]
    assert f'"score": {best}' in last


def test_one_sample_is_not_ranked(ranked):
    final = httpx.post(f"{ranked.url}/v1/solve", json={"question": QUESTION, "max_steps": 2},
                       timeout=60).json()
    assert "scores" not in final and "score" not in final
    assert httpx.get(f"{ranked.url}/health").json()["verifier"] is True


def test_a_student_is_not_a_verifier(tok, tmp_path):
    unified = save_student(make_student(tok, 3), tok, tmp_path / "unified", "unified")
    with pytest.raises(UserError, match="--verifier.*expected a `verifier`"):
        load_app(model=unified, verifier=unified)
    verifier = save_student(make_student(tok, 4), tok, tmp_path / "verifier", "verifier")
    with pytest.raises(UserError, match="--model"):
        load_app(model=verifier)
