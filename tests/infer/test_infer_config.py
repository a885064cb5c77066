"""Solve settings are stated once: the CLI and serve's request body take SolveConfig's defaults."""

import inspect
import subprocess
import sys

import pytest

from socratic_distill.errors import UserError
from socratic_distill.infer.config import SolveConfig, make_config, solve_default


def test_the_solve_command_defaults_are_the_configs():
    from socratic_distill.cli import solve

    parameters = inspect.signature(solve).parameters
    # method and vote default to None on the command line because their defaults depend on
    # other options (the student's task; whether --verifier is given).
    derived = {"method", "vote"}
    shared = [name for name in parameters if name in SolveConfig.model_fields and name not in derived]
    assert len(shared) >= 9
    for name in shared:
        assert parameters[name].default == solve_default(name), name


def test_the_serve_request_defaults_are_the_configs():
    from socratic_distill.serve.bodies import SolveRequest

    for name in ("calculator", "max_steps", "samples", "top_p", "seed"):
        assert SolveRequest.model_fields[name].default == solve_default(name), name


def test_default_lengths_come_from_the_method_registry():
    assert make_config(method="cot").budget == 320
    assert make_config(method="cot", max_new_tokens=7).budget == 7
    with pytest.raises(UserError, match="temperature"):
        make_config(method="cot", samples=4)


def test_solve_settings_and_experiment_configs_validate_without_torch():
    code = ("import sys; from importlib.resources import files;"
            "from socratic_distill.config import load_config;"
            "load_config(str(files('socratic_distill') / 'configs' / 'quickstart.yaml'));"
            "from socratic_distill.infer.config import make_config; make_config(method='socratic');"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
