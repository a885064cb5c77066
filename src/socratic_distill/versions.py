"""The library versions this package is tested with, checked before anything runs.

The ranges are stated once, in pyproject.toml, and read back here from the installed package's
metadata. `check` runs when the command line starts, so an unsupported torch or transformers is
a one-line error naming the supported range, not a traceback halfway through a run; `internal`
imports the transformers internals that inference relies on (cache layers, attention and mask
registries) with the same kind of error when a release has moved them.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any

from socratic_distill.errors import UserError

DISTRIBUTION = "socratic-distill"
CHECKED = ("torch", "transformers")


class UnsupportedVersion(UserError):
    """An installed library outside the range this package is tested with."""


def installed_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def supported_range(package: str) -> str:
    """The version specifier pyproject.toml gives `package` (e.g. `>=5.17,<5.25`), or ''."""
    from packaging.requirements import Requirement

    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return ""
    for line in requirements:
        requirement = Requirement(line)
        if requirement.name == package and requirement.marker is None:
            return ",".join(sorted(str(spec) for spec in requirement.specifier))
    return ""


def check(packages: tuple[str, ...] = CHECKED) -> None:
    """Raise `UnsupportedVersion` when an installed package is outside its supported range."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    for package in packages:
        version, supported = installed_version(package), supported_range(package)
        if version is None or not supported:
            continue
        if Version(version) not in SpecifierSet(supported, prereleases=True):
            raise UnsupportedVersion(
                f"{package} {version} is not supported: socratic-distill is tested with "
                f"{package}{supported} (pip install '{package}{supported}')"
            )


def internal(module: str, name: str) -> Any:
    """`module.name` from a library's internals, or a one-line `UnsupportedVersion` naming the
    supported range when this release does not have it."""
    package = module.partition(".")[0]
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise UnsupportedVersion(
            f"{package} {installed_version(package)} has no `{module}.{name}`, which "
            f"socratic-distill uses; it is tested with {package}{supported_range(package)}"
        ) from None
