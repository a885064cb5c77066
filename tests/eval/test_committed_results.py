"""The committed GSM8K results re-score to the figures committed beside them.

`results/gsm8k-smollm2-cpu/` holds each reported method's predictions (`METHOD.jsonl`) and the
run's evaluation record (`METHOD.metrics.json`, which `report` turns into the README's table).
Re-scoring the predictions with the dataset's own gold answers must give the recorded counts,
so an edited prediction file or a table that no longer matches its data fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from socratic_distill.data import gsm8k
from socratic_distill.eval.evaluate import evaluate_predictions, load_predictions, read_evaluation
from socratic_distill.jsonl import read_jsonl

RESULTS = Path(__file__).resolve().parents[2] / "results" / "gsm8k-smollm2-cpu"
METHODS = sorted(path.name.removesuffix(".metrics.json") for path in RESULTS.glob("*.metrics.json"))


def test_every_reported_method_has_predictions_and_a_record():
    assert {"cot", "socratic"} <= set(METHODS)
    assert {path.stem for path in RESULTS.glob("*.jsonl")} == set(METHODS)


@pytest.mark.parametrize("method", METHODS)
def test_predictions_rescore_to_the_recorded_figures(shared_data, method):
    record = read_evaluation(RESULTS / f"{method}.metrics.json")
    predictions = load_predictions(RESULTS / f"{method}.jsonl")
    problems = gsm8k.load_gsm8k("test", data_dir=shared_data, limit=record.total, options={})

    assert [p.id for p in predictions] == [p.id for p in problems]
    # The layout: id and prediction on every line, the answer on all but the unparsable ones,
    # and the Socratic methods' steps (a CoT solution's steps are its text).
    lines = read_jsonl(RESULTS / f"{method}.jsonl")
    keys = {"id", "prediction"} | ({"steps"} if "socratic" in method else set())
    assert all(keys <= set(line) for line in lines)
    assert sum("answer" not in line for line in lines) == record.unparsable + record.errors
    rescored = evaluate_predictions(problems, predictions, mode=record.mode)
    assert (rescored.correct, rescored.total, rescored.unparsable) == (
        record.correct, record.total, record.unparsable)
    assert rescored.accuracy == pytest.approx(record.accuracy)
    assert [(i.id, i.gold, i.predicted, i.correct) for i in rescored.items] == [
        (i.id, i.gold, i.predicted, i.correct) for i in record.items]


CURVE = RESULTS / "curve-512"


def test_each_learning_curve_point_rescores_from_its_predictions(shared_data):
    """`curve.json` (bench/learning_curve.py) against its predictions: the first `total` lines
    of each point's file re-score to its count, and the steps and tokens rise together."""
    points = json.loads((CURVE / "curve.json").read_text())
    assert [p["step"] for p in points] == sorted(p["step"] for p in points)
    assert [p["tokens"] for p in points] == sorted(p["tokens"] for p in points)
    for point in points:
        problems = gsm8k.load_gsm8k("test", data_dir=shared_data, limit=point["total"], options={})
        predictions = load_predictions(CURVE / point["predictions"])[: point["total"]]
        rescored = evaluate_predictions(problems, predictions)
        assert (rescored.correct, rescored.total) == (point["correct"], point["total"]), point["step"]
        assert rescored.accuracy == pytest.approx(point["accuracy"])
