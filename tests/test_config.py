"""Experiment configs: defaults, per-task overrides, and errors that name the field."""

import pytest

from socratic_distill.config import load_config, parse_config
from socratic_distill.errors import UserError


def test_defaults_and_overrides():
    config = parse_config({
        "name": "x",
        "methods": ["answer", "socratic"],
        "train": {"max_steps": 10},
        "students": {"qg": {"model": "scratch:tiny", "train": {"learning_rate": 0.01}}},
    })
    assert config.tasks() == ["answer", "qg", "qa"]
    assert config.model_for("qg") == "scratch:tiny" and config.model_for("qa") == "scratch:small"
    assert config.train_settings("qg") == {"max_steps": 10, "learning_rate": 0.01}
    assert config.solve_settings("socratic-gold")["guidance"] == "gold"
    assert str(config.resolved_run_dir()) == "runs/x"


@pytest.mark.parametrize("raw, message", [
    ({"name": "x", "methdos": ["cot"]}, "`methdos`: Extra inputs are not permitted"),
    ({"name": "x", "methods": ["socratik"]}, "`methods.0`"),
    ({"name": "x", "dataset": {"name": "gsm8k", "splits": 1}}, "`dataset.splits`"),
    ({"name": "x", "train": {"lerning_rate": 1}}, "`students.answer.train.lerning_rate`"),
    ({"name": "x", "solve": {"temperature": -1}}, "`solve.temperature`"),
    ({"name": "x", "socratic_students": "both"}, "`socratic_students`: Input should be 'pair' or 'unified'"),
    ({"name": "x", "teacher": {"spec": "gold", "styles": ["prose"]}}, "`teacher.styles.0`"),
    ({"name": "x", "teacher": {"spec": "openai:m", "options": {"noise": 0.5}}}, "noise"),
    ({}, "`name`"),
    ({"name": "x", "dataset": {"eval_splits": ["train"], "train_options": {"later_facts": 1}}},
     "train_options: the training split `train` is also an evaluation split"),
    ({"name": "x", "methods": ["cot"], "targets": {"socratic": {"test": 80}}}, "targets.socratic"),
    ({"name": "x", "methods": ["cot"], "targets": {"cot": {"test-hard": 50}}}, "targets.cot.test-hard"),
    ({"name": "x", "methods": ["cot"], "targets": {"cot": {"test": 0.8e3}}}, "not a percentage"),
])
def test_errors_name_the_field(raw, message):
    with pytest.raises(UserError, match=message.replace(".", r"\.").replace("`", "`")):
        parse_config(raw, "exp.yaml")


def test_yaml_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("name: x\nmethods: [cot\n")
    with pytest.raises(UserError, match=r"exp\.yaml:\d+: invalid YAML"):
        load_config(path)
    with pytest.raises(UserError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_the_bundled_quickstart_config_is_valid():
    from importlib.resources import files

    config = load_config(str(files("socratic_distill") / "configs" / "quickstart.yaml"))
    assert config.dataset.name == "synthetic" and "socratic" in config.methods
    # One unified student plays both socratic roles, so no decomposer or solver is trained.
    assert config.method_tasks("socratic") == ("unified",)
    assert config.tasks() == ["answer", "cot", "unified"]


def test_every_shipped_recipe_is_valid():
    from pathlib import Path

    recipes = sorted((Path(__file__).resolve().parents[1] / "configs").glob("**/*.yaml"))
    assert len(recipes) >= 17
    for path in recipes:
        config = load_config(path)
        assert config.methods and config.default_model
