"""Stages: an interrupted attempt resumes only under its own settings."""

import pytest

from socratic_distill.stages import ATTEMPTS, RECORD, Stage, clear_directory, run_stages


class Interrupted(Exception):
    pass


def stage(settings, action, restart=None):
    return Stage("work", settings, action, restart=restart)


def interrupt(directory):
    (directory / "partial").write_text("half done")
    raise Interrupted


def test_an_interrupted_attempt_keeps_its_work_for_the_same_settings(tmp_path):
    with pytest.raises(Interrupted):
        run_stages([stage({"lr": 1}, interrupt, clear_directory)], tmp_path)
    assert not (tmp_path / "work" / RECORD).exists()
    assert (tmp_path / ATTEMPTS / "work.json").is_file()
    seen = []
    run_stages([stage({"lr": 1}, lambda d: seen.append((d / "partial").exists()),
                      clear_directory)], tmp_path)
    assert seen == [True]  # resumed: the partial work was still there
    assert (tmp_path / "work" / RECORD).is_file()


def test_other_settings_start_afresh_where_the_stage_can_restart(tmp_path):
    with pytest.raises(Interrupted):
        run_stages([stage({"lr": 1}, interrupt, clear_directory)], tmp_path)
    seen = []
    run_stages([stage({"lr": 2}, lambda d: seen.append((d / "partial").exists()),
                      clear_directory)], tmp_path)
    assert seen == [False]
    # A finished stage rerun under new settings starts afresh too.
    (tmp_path / "work" / "model").write_text("weights of lr 2")
    run_stages([stage({"lr": 3}, lambda d: seen.append((d / "model").exists()),
                      clear_directory)], tmp_path)
    assert seen == [False, False]


def test_a_stage_without_restart_keeps_its_directory(tmp_path):
    # The teacher's stage keeps its response cache whatever its settings.
    with pytest.raises(Interrupted):
        run_stages([stage({"temperature": 0}, interrupt)], tmp_path)
    seen = []
    run_stages([stage({"temperature": 1}, lambda d: seen.append((d / "partial").exists()))],
               tmp_path)
    assert seen == [True]
