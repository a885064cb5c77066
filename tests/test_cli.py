"""The command line end to end, in subprocesses: outputs, one-line errors, exit codes."""

import json
import subprocess
import sys

import pytest


def cli(*args, cwd=None, env=None):
    import os

    return subprocess.run(
        [sys.executable, "-m", "socratic_distill", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=120,
        env={**os.environ, **env} if env else None,
    )


def test_help_lists_the_stages():
    result = cli("--help")
    assert result.returncode == 0
    for command in ("data", "build", "evaluate"):
        assert command in result.stdout


def test_export_then_evaluate_gold_answers_scores_100(tmp_path):
    problems = tmp_path / "test.jsonl"
    assert cli("data", "export", "synthetic:test", "--limit", 50, "--out", problems).returncode == 0
    records = [json.loads(line) for line in problems.read_text().splitlines()]
    assert len(records) == 50
    predictions = tmp_path / "preds.jsonl"
    predictions.write_text("".join(
        json.dumps({"id": r["id"], "prediction": f"So the answer is {r['answer']}."}) + "\n"
        for r in records
    ))
    metrics = tmp_path / "metrics.json"
    result = cli("evaluate", "--dataset", "synthetic:test", "--limit", 50,
                 "--predictions", predictions, "--out", metrics)
    assert result.returncode == 0, result.stderr
    assert "100.0%" in result.stdout
    saved = json.loads(metrics.read_text())
    assert saved["correct"] == saved["total"] == 50
    assert saved["method"] == "preds" and saved["split"] == "test" and len(saved["items"]) == 50
    # The command's record is the pipeline's: `report` reads it as it is.
    result = cli("report", metrics, "--out", tmp_path / "report")
    assert result.returncode == 0, result.stderr
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| preds |" in markdown and "100.0 (" in markdown


def test_report_names_the_field_of_a_malformed_evaluation(tmp_path):
    bad = tmp_path / "run" / "evaluate-x" / "metrics.json"
    bad.parent.mkdir(parents=True)
    bad.write_text(json.dumps({"method": "cot", "split": "test", "accuracy": 0.5}))
    result = cli("report", tmp_path / "run")
    assert result.returncode == 2
    assert str(bad) in result.stderr and "total" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_evaluate_reports_missing_unknown_and_unparsable(tmp_path):
    predictions = tmp_path / "preds.jsonl"
    lines = [
        {"id": "synthetic-test-0", "prediction": "no idea"},
        {"id": "synthetic-test-1", "prediction": "#### -1"},
        {"id": "not-a-problem", "prediction": "#### 3"},
    ]
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = cli("evaluate", "--dataset", "synthetic:test", "--limit", 5, "--predictions", predictions)
    assert result.returncode == 0, result.stderr
    out = result.stdout.lower()
    assert "0.0%" in out and "unparsable: 1" in out
    assert "missing ids: 3" in out and "unknown ids: 1" in out


def test_malformed_predictions_fail_with_file_and_line(tmp_path):
    predictions = tmp_path / "preds.jsonl"
    predictions.write_text('{"id": "synthetic-test-0", "prediction": "1"}\n{oops\n')
    result = cli("evaluate", "--dataset", "synthetic:test", "--limit", 5, "--predictions", predictions)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0  # one line
    assert f"{predictions}:2:" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["data", "show", "gsm8kk"], "did you mean `gsm8k`"),
    (["data", "show", "synthetic:tset"], "did you mean `test`"),
    (["data", "show", "synthetic:test", "-o", "max_steps"], "KEY=VALUE"),
    (["data", "show", "synthetic:test", "-o", "colour=red"], "colour"),
    (["data", "show", "svamp:test", "--data-dir", "/no/such/dir"], "/no/such/dir"),
    (["build", "--annotations", "/no/such.jsonl", "--out", "x"], "/no/such.jsonl"),
    (["build", "--annotations", "a.jsonl", "--out", "x", "--verifier-balanced"], "--verifier-samples"),
    (["build", "--annotations", "a.jsonl", "--out", "x", "--verifier-stepwise"],
     "--verifier-stepwise applies to --verifier-samples only"),
    (["serve", "--model", "x", "--admit-wait", "-1"], "admit_wait"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = cli(*args)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.startswith("error: ")
    assert result.stderr.strip().count("\n") == 0


def test_build_from_an_export(tmp_path):
    problems = tmp_path / "train.jsonl"
    cli("data", "export", "synthetic:train", "--limit", 20, "--out", problems)
    result = cli("build", "--annotations", problems, "--out", tmp_path / "sets")
    assert result.returncode == 0, result.stderr
    for task in ("answer", "cot", "unified", "qg", "qa"):
        assert f"{task} " in result.stdout
        assert len((tmp_path / "sets" / f"{task}.jsonl").read_text().splitlines()) == 20


def test_build_counts_and_drops_gsm8k_problems_that_share_words_with_its_test_set(
        tmp_path, shared_data):
    import re

    problems = tmp_path / "train.jsonl"
    cli("data", "export", "gsm8k:train", "--limit", 150, "--data-dir", shared_data, "--out", problems)
    result = cli("build", "--annotations", problems, "--out", tmp_path / "sets", "--data-dir",
                 shared_data, "--check-against", "gsm8k:test", "--drop-contaminated")
    assert result.returncode == 0, result.stderr
    found = re.search(r"(\d+) of 150 training problems .* with gsm8k:test: dropped", result.stderr)
    assert found and int(found[1]) > 0, result.stderr
    kept = (tmp_path / "sets" / "answer.jsonl").read_text().splitlines()
    assert len(kept) == 150 - int(found[1])
    manifest = json.loads((tmp_path / "sets" / "build.json").read_text())
    assert manifest["contamination"][0]["sharing"] == int(found[1])
    refused = cli("build", "--annotations", problems, "--out", tmp_path / "x", "--drop-contaminated")
    assert refused.returncode == 2 and "--check-against" in refused.stderr
    assert not (tmp_path / "x").exists()


def test_the_gsm8k_recipe_without_its_files_stops_at_once(tmp_path):
    from pathlib import Path

    recipe = Path(__file__).resolve().parents[1] / "configs" / "cpu" / "gsm8k-smollm2.yaml"
    result = cli("run", recipe, cwd=tmp_path, env={"SOCRATIC_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: gsm8k: missing file") and "--data-dir" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_real_dataset_from_the_shared_folder(shared_data):
    result = cli("data", "show", "gsm8k:test", "--limit", 1, "--data-dir", shared_data)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answer"] == "18"


def test_annotate_problems_without_gold_answers(tmp_path):
    problems = tmp_path / "mine.jsonl"
    problems.write_text("".join(
        json.dumps({"id": f"q{i}", "question": f"Ann has {i} pens and buys 2 more. How many?"}) + "\n"
        for i in range(3)
    ))
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(
        json.dumps({"id": f"q{i}", "sample": 0, "completion":
                    f"Q: How many pens does Ann have?\nA: {i}+2 = <<{i}+2={i + 2}>>{i + 2}\n"
                    f"The answer is {i + 2}."}) + "\n"
        for i in range(3)
    ))
    out = tmp_path / "annotations.jsonl"
    result = cli("annotate", "--dataset", f"jsonl:{problems}", "-o", "unlabelled=true",
                 "-o", "answer_type=number", "--teacher", f"replay:{replay}", "--out", out)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 3 and all(r.get("correct") is None for r in records)
    assert {r["final_answer"] for r in records} == {"2", "3", "4"}
    assert "no gold answer" in result.stdout + result.stderr


@pytest.mark.slow
def test_run_prints_each_target_beside_what_was_measured(tmp_path):
    import yaml

    config = {
        "name": "mini", "run_dir": str(tmp_path / "run"), "methods": ["answer", "cot"],
        "dataset": {"name": "synthetic", "train_limit": 20, "eval_limit": 4,
                    "options": {"min_steps": 1, "max_steps": 2}},
        "teacher": {"spec": "synthetic", "styles": ["cot"]},
        "default_model": "scratch:tiny",
        "train": {"max_steps": 2, "batch_size": 4, "validation_fraction": 0.0},
        "solve": {"batch_size": 4, "max_new_tokens": 8},
        "targets": {"answer": {"test": 0}, "cot": {"test": 100}},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    result = cli("run", path)
    assert result.returncode == 0, result.stderr[-2000:]
    targets = result.stdout.split("\ntargets\n")[1].splitlines()
    assert targets[0].split()[:2] == ["answer", "test"] and targets[0].endswith("aim 0%  reached")
    # Two training steps do not solve every problem.
    assert targets[1].split()[:2] == ["cot", "test"] and targets[1].endswith("not reached")


def test_train_refuses_a_verifier_loss_that_cannot_apply(tmp_path):
    for value, message in (("pairs", "task `cot` has none"), ("bogus", "verifier_loss")):
        result = cli("train", "--task", "cot", "--data", tmp_path, "--model", "scratch:tiny",
                     "--out", tmp_path / "out", "--verifier-loss", value)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert result.stderr.strip().count("\n") == 0
    assert not (tmp_path / "out").exists()
