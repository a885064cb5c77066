"""The supported library ranges: stated once (pyproject.toml), checked at start-up, and the
transformers internals imported behind a one-line error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from socratic_distill import cli, versions

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def declared(package: str) -> str:
    """`package`'s specifier as pyproject.toml writes it."""
    from packaging.requirements import Requirement

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    for line in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]:
        requirement = Requirement(line)
        if requirement.name == package:
            return str(requirement.specifier)
    raise AssertionError(f"{package} is not a dependency")


@pytest.mark.parametrize("package", versions.CHECKED)
def test_the_ranges_are_pyprojects_with_a_floor_and_a_ceiling(package):
    from packaging.specifiers import SpecifierSet

    supported = versions.supported_range(package)
    assert SpecifierSet(supported) == SpecifierSet(declared(package))
    operators = {spec.operator for spec in SpecifierSet(supported)}
    assert operators == {">=", "<"}  # tested at both ends: nothing open-ended


def test_the_installed_libraries_pass():
    versions.check()


def test_torch_floor_is_one_that_transformers_supports():
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    needs = [Requirement(line) for line in metadata.requires("transformers") or []]
    floor = next(r for r in needs if r.name == "torch").specifier
    ours = SpecifierSet(versions.supported_range("torch"))
    lowest = next(spec.version for spec in ours if spec.operator == ">=")
    assert lowest in floor, f"torch>={lowest} is below transformers' own {floor}"


def test_an_unsupported_version_is_one_line_naming_the_range(monkeypatch):
    monkeypatch.setattr(versions, "installed_version", lambda package: "5.0.0")
    with pytest.raises(versions.UnsupportedVersion) as error:
        versions.check(("transformers",))
    message = str(error.value)
    assert "\n" not in message
    assert "transformers 5.0.0 is not supported" in message
    assert f"transformers{versions.supported_range('transformers')}" in message


def test_the_command_line_stops_at_start_up_with_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(versions, "installed_version",
                        lambda package: "2.0.0" if package == "torch" else "5.17.0")
    monkeypatch.setattr(sys, "argv", ["socratic-distill", "data", "show", "synthetic:train"])
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: torch 2.0.0 is not supported") and "\n" not in err


def test_a_missing_internal_is_one_line_naming_the_range():
    assert versions.internal("transformers.cache_utils", "DynamicLayer").__name__ == "DynamicLayer"
    for module, name in [("transformers.cache_utils", "NoSuchLayer"),
                         ("transformers.no_such_module", "Thing")]:
        with pytest.raises(versions.UnsupportedVersion) as error:
            versions.internal(module, name)
        message = str(error.value)
        assert f"`{module}.{name}`" in message and "\n" not in message
        assert f"tested with transformers{versions.supported_range('transformers')}" in message
