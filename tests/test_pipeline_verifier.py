"""`run` with `M+verifier` methods: the verifier's stages, its settings, and a miniature run."""

import json

import pytest
from test_pipeline import MINI, mini

from socratic_distill.errors import UserError
from socratic_distill.jsonl import read_jsonl
from socratic_distill.pipeline import plan_stages, run_experiment


def test_a_verified_method_plans_its_verifier_after_its_students(tmp_path):
    config = mini(tmp_path, methods=["socratic", "socratic+verifier"], socratic_students="unified",
                  verifier={"samples": 4, "train_problems": 10, "train": {"max_steps": 3}})
    stages = {stage.name: stage for stage in plan_stages(config)}
    names = list(stages)
    assert names.index("train-unified") < names.index("verifier-samples-socratic") \
        < names.index("verifier-build-socratic") < names.index("train-verifier-socratic") \
        < names.index("solve-socratic+verifier-test")
    assert stages["verifier-samples-socratic"].needs == ["train-unified"]
    sampling = stages["verifier-samples-socratic"].settings
    assert sampling["solve"]["keep_samples"] and sampling["solve"]["samples"] == 4
    assert sampling["problems"] == 10
    ranked = stages["solve-socratic+verifier-test"]
    assert ranked.needs == ["train-unified", "train-verifier-socratic"]
    assert ranked.settings["solve"] | {"samples": 4, "vote": "best"} == ranked.settings["solve"]
    assert stages["train-verifier-socratic"].settings["task"] == "verifier"
    assert stages["train-verifier-socratic"].settings["train"]["max_steps"] == 3
    # The plain method stays greedy, and no verifier is planned without a verified method.
    assert stages["solve-socratic-test"].settings["solve"].get("samples") is None
    assert not any("verifier" in stage.name for stage in plan_stages(mini(tmp_path)))


def test_verifier_settings_are_checked_at_the_edge(tmp_path):
    with pytest.raises(UserError, match="verifier.samples"):
        mini(tmp_path, methods=["cot+verifier"], verifier={"samples": 1})
    with pytest.raises(UserError, match="verifier.vote"):
        mini(tmp_path, methods=["cot+verifier"], verifier={"vote": "majority"})
    with pytest.raises(UserError, match="verifier.train"):
        mini(tmp_path, methods=["cot+verifier"], verifier={"train": {"lerning_rate": 1}})
    with pytest.raises(UserError, match="methods"):
        mini(tmp_path, methods=["answer+verifier"])
    with pytest.raises(UserError, match="verifier.split: `test` is an evaluation split"):
        mini(tmp_path, methods=["cot+verifier"], verifier={"split": "test"})


def test_the_verifier_may_learn_from_problems_the_students_never_saw(tmp_path):
    own = {s.name: s for s in plan_stages(mini(tmp_path, methods=["cot+verifier"]))}
    apart = {s.name: s for s in plan_stages(
        mini(tmp_path, methods=["cot+verifier"], verifier={"split": "validation"}))}
    assert "dataset" not in own["verifier-samples-cot"].settings
    assert apart["verifier-samples-cot"].settings["dataset"]["split"] == "validation"
    # The students and the evaluation are untouched by where the verifier's problems come from.
    assert apart["train-cot"].settings == own["train-cot"].settings
    assert apart["solve-cot+verifier-test"].settings == own["solve-cot+verifier-test"].settings


def test_a_balanced_verifier_set_is_its_own_build_and_leaves_the_samples_alone(tmp_path):
    own = {s.name: s for s in plan_stages(mini(tmp_path, methods=["cot+verifier"]))}
    balanced = {s.name: s for s in plan_stages(
        mini(tmp_path, methods=["cot+verifier"], verifier={"balanced": True}))}
    assert "balanced" not in own["verifier-build-cot"].settings  # earlier runs keep their builds
    assert balanced["verifier-build-cot"].settings["balanced"] is True
    assert balanced["verifier-samples-cot"].settings == own["verifier-samples-cot"].settings
    stepwise = {s.name: s for s in plan_stages(
        mini(tmp_path, methods=["cot+verifier"], verifier={"stepwise": True}))}
    assert stepwise["verifier-build-cot"].settings == {**own["verifier-build-cot"].settings,
                                                        "stepwise": True}
    assert stepwise["verifier-samples-cot"].settings == own["verifier-samples-cot"].settings


@pytest.mark.slow
def test_a_miniature_run_ranks_cot_samples_with_its_own_verifier(tmp_path):
    config = mini(tmp_path, methods=["cot", "cot+verifier"],
                  solve={**MINI["solve"], "max_new_tokens": 48},
                  verifier={"samples": 3, "train_problems": 12, "train": {"max_steps": 3}})
    run_experiment(config)
    run_dir = tmp_path / "run"
    built = json.loads((run_dir / "verifier-build-cot" / "verifier.build.json").read_text())
    assert built["problems"] == 12 and built["right"] + built["wrong"] == built["examples"]["verifier"]
    assert json.loads((run_dir / "train-verifier-cot" / "student.json").read_text())["task"] == "verifier"
    predictions = read_jsonl(run_dir / "solve-cot+verifier-test" / "predictions.jsonl")
    assert len(predictions) == 6
    for prediction in predictions:  # every sample's answer and score, and the chosen one's
        assert len(prediction["samples"]) == len(prediction["scores"]) == 3
        assert prediction["score"] == max(s for s in prediction["scores"] if s is not None)
    metrics = json.loads((run_dir / "evaluate-cot+verifier-test" / "metrics.json").read_text())
    assert metrics["method"] == "cot+verifier" and metrics["sampled"]["samples"] == 3
    assert metrics["accuracy"] <= metrics["sampled"]["any_correct"]
    report = (run_dir / "report" / "report.md").read_text()
    assert "cot+verifier" in report
