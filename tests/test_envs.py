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
    # The pins live in pyproject.toml only: the env installs the repository itself.
    assert pip == ["-e .."]


def test_every_rule_names_the_conda_env():
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        assert text.count("\nrule ") <= text.count('conda:\n        "../../envs/avexplain.yaml"'), (
            smk
        )
