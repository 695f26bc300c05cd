"""The conda environment the rules name installs this package, on a Python the package supports."""

import tomllib
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]


def test_conda_env_installs_the_package_on_a_supported_python():
    env = yaml.safe_load((ROOT / "envs" / "avexplain.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    assert python.split("=", 1)[1] + ".0" in SpecifierSet(project["requires-python"])
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    # The versions are the lock's, as `make install` installs them; then the repository itself.
    assert pip == ["-r ../requirements.lock", "-e .."]


def _locked(python: str) -> dict[str, str]:
    """requirements.lock's version of every package for `python` (its markers evaluated)."""
    from packaging.requirements import Requirement

    env = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "os_name": "posix"}  # fmt: skip
    versions = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(env):
                versions[req.name.lower()] = str(req.specifier).removeprefix("==")
    return versions


def test_the_lock_pins_every_dependency_within_the_projects_ranges():
    """`make install` installs requirements.lock; after a change of pyproject.toml, `make lock`."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    for python in ("3.11", "3.12"):
        locked = _locked(python)
        for spec in map(Requirement, wanted):
            name = spec.name.lower()
            assert name in locked, f"requirements.lock has no {name} for Python {python}"
            assert spec.specifier.contains(locked[name]), (python, str(spec), locked[name])


def test_every_rule_names_the_conda_env():
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        assert text.count("\nrule ") <= text.count('conda:\n        "../../envs/avexplain.yaml"'), (
            smk
        )
