"""bench/rescore_samples.py: kept samples re-ranked by a verifier without sampling again; the
choice moves to the sample the new verifier prefers, and bad input is one line with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from socratic_distill.build import build_verifier_set
from socratic_distill.data.registry import load_problems
from socratic_distill.formats import header, socratic_layout
from socratic_distill.jsonl import write_jsonl
from socratic_distill.schemas import Prediction

ROOT = Path(__file__).resolve().parents[2]


def right(problem) -> str:
    text = socratic_layout(problem.question, problem.gold_steps, context=problem.context).text
    return text[len(header(problem.question, problem.context)):]


def planted_wrong(problem) -> str:
    """A wrong dialogue as weak students write them: it stops before the answer."""
    return f"Q: {problem.gold_steps[0].subquestion}\nA: I do not know.\n"


def kept(problem, texts, answers, scores) -> Prediction:
    """What `solve --samples 2 --keep-samples --verifier` writes, the first sample chosen."""
    return Prediction(id=problem.id, prediction=texts[0], answer=answers[0], samples=answers,
                      sample_texts=texts, scores=scores, score=scores[0], seconds=2.0,
                      score_seconds=1.0)


@pytest.fixture(scope="module")
def verifier(tmp_path_factory):
    from socratic_distill.train import TrainConfig, train_student

    root = tmp_path_factory.mktemp("rescore")
    problems = load_problems("synthetic:train", limit=48)
    samples = [Prediction(id=p.id, sample_texts=[right(p), planted_wrong(p)], samples=[p.answer, None])
               for p in problems]
    write_jsonl(root / "samples.jsonl", samples)
    build_verifier_set(root / "samples.jsonl", root / "sets", problems)
    config = TrainConfig(max_steps=60, batch_size=16, learning_rate=3e-3, validation_fraction=0,
                         save_steps=1000, logging_steps=20)
    return train_student("verifier", root / "sets", "scratch:tiny", root / "verifier", config)


def rescore(tmp_path, predictions: Path, verifier: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "rescore_samples.py"), str(predictions),
         "--verifier", str(verifier), "-d", "synthetic:test", "--limit", "8",
         "--out", str(tmp_path / "rescored.jsonl"), *extra],
        capture_output=True, text=True, timeout=300,
    )


def test_the_new_verifier_moves_the_choice_to_the_right_sample(verifier, tmp_path):
    problems = load_problems("synthetic:test", limit=8)
    # An earlier verifier preferred the planted wrong sample (first), so every answer is wrong.
    predictions = [kept(p, [planted_wrong(p), right(p)], [None, p.answer], [0.9, 0.1])
                   for p in problems]
    predictions[0] = kept(problems[0], [None, right(problems[0])], [None, problems[0].answer],
                          [None, 0.1])  # a sample that failed when drawn is never chosen
    write_jsonl(tmp_path / "kept.jsonl", predictions)

    result = rescore(tmp_path, tmp_path / "kept.jsonl", verifier)
    assert result.returncode == 0, result.stderr
    assert "accuracy 100.0%" in result.stdout and "8/8" in result.stdout
    lines = [json.loads(line) for line in (tmp_path / "rescored.jsonl").read_text().splitlines()]
    for problem, line in zip(problems, lines, strict=True):
        assert line["answer"] == problem.answer and line["prediction"] == right(problem)
        assert line["steps"] and line["steps"][-1]["answer"] == problem.answer
        assert line["score"] == max(s for s in line["scores"] if s is not None)
        # The old scoring time is replaced by the new one; the sampling time stays.
        assert line["seconds"] == pytest.approx(1.0 + line["score_seconds"], abs=1e-3)
    assert lines[0]["scores"][0] is None and lines[1]["scores"][1] > lines[1]["scores"][0]


def test_predictions_without_kept_samples_are_refused(verifier, tmp_path):
    problem = load_problems("synthetic:test", limit=1)[0]
    plain, uneven = tmp_path / "plain.jsonl", tmp_path / "uneven.jsonl"
    write_jsonl(plain, [Prediction(id=problem.id, prediction="x", answer="1")])
    write_jsonl(uneven, [Prediction(id=problem.id, sample_texts=["a", "b"], samples=["1"])])
    for path, message in (
        (plain, "no `sample_texts`: solve with --samples N --keep-samples to make the verifier's material"),
        (uneven, "2 sample texts but 1 sample answers"),
    ):
        result = rescore(tmp_path, path, verifier)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines()[-1] == f"error: {path}:1: {message}"
        assert not (tmp_path / "rescored.jsonl").exists()


def test_dataset_options_select_the_problems_the_samples_solve(verifier, tmp_path):
    """Samples drawn with `solve -o seed=1` are scored against those problems, not seed 0's."""
    problems = load_problems("synthetic:test", limit=8, options={"seed": 1})
    predictions = [kept(p, [planted_wrong(p), right(p)], [None, p.answer], [0.9, 0.1]) for p in problems]
    write_jsonl(tmp_path / "kept.jsonl", predictions)

    result = rescore(tmp_path, tmp_path / "kept.jsonl", verifier, "-o", "seed=1")
    assert result.returncode == 0, result.stderr
    assert "8/8" in result.stdout
    default = rescore(tmp_path, tmp_path / "kept.jsonl", verifier)  # ids match, problems do not
    assert default.returncode == 0 and "8/8" not in default.stdout

    bad = rescore(tmp_path, tmp_path / "kept.jsonl", verifier, "-o", "seed")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == "error: --dataset-option expects KEY=VALUE, got `seed`"
