"""The pinned environment files must not drift apart.

requirements.txt is the source of truth for direct dependencies:
- every pin there appears identically in requirements.lock (the full `pip freeze`)
  and in environment.yml's pip section (which lists exactly those pins plus `-e .`);
- every dependency in pyproject.toml (optional extras included) is an exact pin that matches requirements.txt;
- Python is 3.11 everywhere (pyproject, environment.yml, Makefile, the running interpreter).

Each check is a pure function of file texts returning a list of problems, so the
same code that checks the real files is also run on deliberately drifted copies.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
PYTHON = "3.11"

_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)"
    r"(?:\[[^\]]*\])?"  # extras
    r"\s*==\s*(?P<version>[^\s;,=<>!~]+)"
    r"\s*(?:;.*)?$"  # environment marker
)


def canonical(name: str) -> str:
    """PEP 503 normalised project name (PyYAML == pyyaml, ipython_pygments_lexers == ipython-pygments-lexers)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(lines: list[str], source: str) -> tuple[dict[str, str], list[str]]:
    """Exact pins {canonical name: version} and the problems found.

    Blank lines and comments are skipped; anything that is not `name==version`
    (ranges, unpinned names, `-e`/`-r` options) and duplicate names are problems.
    """
    pins: dict[str, str] = {}
    problems: list[str] = []
    for number, raw in enumerate(lines, 1):
        line = re.split(r"\s+#", raw, maxsplit=1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.match(line)
        if match is None:
            problems.append(f"{source}:{number}: not an exact 'name==version' pin: {line!r}")
            continue
        name = canonical(match["name"])
        if name in pins:
            problems.append(f"{source}:{number}: {name} is listed twice")
        pins[name] = match["version"]
    return pins, problems


def pin_drift(reference: dict[str, str], ref_name: str, other: dict[str, str], other_name: str,
              *, exact_set: bool) -> list[str]:
    """Pins of `reference` missing from or different in `other`; with exact_set, also pins only in `other`."""
    problems = []
    for name, version in sorted(reference.items()):
        if name not in other:
            problems.append(f"{name}=={version} ({ref_name}) is missing from {other_name}")
        elif other[name] != version:
            problems.append(f"{name}: {ref_name} pins {version} but {other_name} has {other[name]}")
    if exact_set:
        for name in sorted(other.keys() - reference.keys()):
            problems.append(f"{name}=={other[name]} is in {other_name} but not in {ref_name}")
    return problems


def requirements_pins(requirements_text: str) -> tuple[dict[str, str], list[str]]:
    return parse_pins(requirements_text.splitlines(), "requirements.txt")


def check_requirements(requirements_text: str) -> list[str]:
    pins, problems = requirements_pins(requirements_text)
    if not pins:
        problems.append("requirements.txt pins nothing")
    return problems


def check_lock(requirements_text: str, lock_text: str) -> list[str]:
    required, _ = requirements_pins(requirements_text)
    locked, problems = parse_pins(lock_text.splitlines(), "requirements.lock")
    return problems + pin_drift(required, "requirements.txt", locked, "requirements.lock", exact_set=False)


def _environment(environment_text: str) -> dict:
    env = yaml.safe_load(environment_text)
    if not isinstance(env, dict):
        raise ValueError("environment.yml is not a mapping")
    return env


def _pip_section(env: dict) -> list[str] | None:
    sections = [d["pip"] for d in env.get("dependencies") or [] if isinstance(d, dict) and "pip" in d]
    return sections[0] if len(sections) == 1 else None


def check_environment(requirements_text: str, environment_text: str) -> list[str]:
    required, _ = requirements_pins(requirements_text)
    env = _environment(environment_text)
    problems = []
    if env.get("name") != "adoption-kit":
        problems.append(f"environment.yml: name is {env.get('name')!r}, expected 'adoption-kit'")
    if env.get("channels") != ["conda-forge"]:
        problems.append(f"environment.yml: channels are {env.get('channels')!r}, expected ['conda-forge']")
    conda_deps = [d for d in env.get("dependencies") or [] if isinstance(d, str)]
    if "pip" not in [d.split("=")[0].strip() for d in conda_deps]:
        problems.append("environment.yml: conda dependencies lack 'pip' (needed for the pip section)")
    pip = _pip_section(env)
    if pip is None:
        return problems + ["environment.yml: expected exactly one 'pip:' section in dependencies"]
    entries = [str(entry).strip() for entry in pip]
    editable = [e for e in entries if e.startswith("-e")]
    if [re.sub(r"\s+", " ", e) for e in editable] != ["-e ."]:
        problems.append(f"environment.yml: pip section must install the project once with '-e .', found {editable}")
    pins, pin_problems = parse_pins([e for e in entries if not e.startswith("-e")], "environment.yml pip")
    return problems + pin_problems + pin_drift(
        required, "requirements.txt", pins, "environment.yml pip section", exact_set=True
    )


def check_pyproject(requirements_text: str, pyproject_text: str) -> list[str]:
    required, _ = requirements_pins(requirements_text)
    project = tomllib.loads(pyproject_text)["project"]
    declared, problems = parse_pins(project.get("dependencies", []), "pyproject.toml dependencies")
    for extra, pins in sorted(project.get("optional-dependencies", {}).items()):   # [cluster]: pinned there too
        extra_pins, extra_problems = parse_pins(pins, f"pyproject.toml optional-dependencies.{extra}")
        problems += extra_problems
        declared.update(extra_pins)
    return problems + pin_drift(declared, "pyproject.toml", required, "requirements.txt", exact_set=False)


def check_python(pyproject_text: str, environment_text: str, makefile_text: str) -> list[str]:
    problems = []
    requires = tomllib.loads(pyproject_text)["project"].get("requires-python", "")
    spec = SpecifierSet(requires)
    if not (spec.contains(f"{PYTHON}.0") and spec.contains(f"{PYTHON}.99")) or spec.contains("3.10.99") \
            or spec.contains("3.12.0"):
        problems.append(f"pyproject.toml: requires-python {requires!r} must admit exactly Python {PYTHON}")
    conda_python = [
        d for d in _environment(environment_text).get("dependencies") or []
        if isinstance(d, str) and re.match(r"python\b", d.strip())
    ]
    if [re.sub(r"\s+", "", d) for d in conda_python] not in ([f"python={PYTHON}"], [f"python=={PYTHON}"]):
        problems.append(f"environment.yml: conda python is {conda_python}, expected ['python={PYTHON}']")
    make_python = re.findall(r"^PYTHON\s*\??=\s*(\S+)\s*$", makefile_text, flags=re.M)
    if make_python != [f"python{PYTHON}"]:
        problems.append(f"Makefile: PYTHON is {make_python}, expected ['python{PYTHON}']")
    return problems


def _read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


# --- the real files -------------------------------------------------------------------------------


def test_requirements_are_exact_pins():
    assert check_requirements(_read("requirements.txt")) == []


def test_lock_has_every_requirement_pin():
    assert check_lock(_read("requirements.txt"), _read("requirements.lock")) == []


def test_environment_yml_pip_section_mirrors_requirements():
    assert check_environment(_read("requirements.txt"), _read("environment.yml")) == []


def test_pyproject_dependencies_match_requirements():
    assert check_pyproject(_read("requirements.txt"), _read("pyproject.toml")) == []


def test_python_311_everywhere():
    assert check_python(_read("pyproject.toml"), _read("environment.yml"), _read("Makefile")) == []


def test_running_interpreter_is_python_311():
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == PYTHON


# --- the checks must be able to fail --------------------------------------------------------------


def test_parse_pins_normalises_names_and_rejects_non_pins():
    pins, problems = parse_pins(
        ["# comment", "", "PyYAML==6.0.4  # inline", "ipython_pygments_lexers==1.1.1",
         "pandas>=3", "polars", "-e .", "pyyaml==6.0.5"],
        "x",
    )
    assert pins == {"pyyaml": "6.0.5", "ipython-pygments-lexers": "1.1.1"}
    assert problems == [
        "x:5: not an exact 'name==version' pin: 'pandas>=3'",
        "x:6: not an exact 'name==version' pin: 'polars'",
        "x:7: not an exact 'name==version' pin: '-e .'",
        "x:8: pyyaml is listed twice",
    ]


def test_pin_drift_reports_changed_missing_and_extra():
    reference = {"pandas": "3.1.1", "polars": "2.1.0", "pyyaml": "6.0.4"}
    other = {"pandas": "3.1.2", "pyyaml": "6.0.4", "requests": "2.34.2"}
    assert pin_drift(reference, "a", other, "b", exact_set=False) == [
        "pandas: a pins 3.1.1 but b has 3.1.2",
        "polars==2.1.0 (a) is missing from b",
    ]
    assert pin_drift(reference, "a", other, "b", exact_set=True)[-1] == "requests==2.34.2 is in b but not in a"
    assert pin_drift(reference, "a", dict(reference), "b", exact_set=True) == []


def _bump(text: str, name: str) -> str:
    """`text` with the `name==X` pin changed to `name==X.drift`."""
    pattern = re.compile(rf"(?im)^(\s*(?:-\s*)?\"?{re.escape(name)}==[^\s\";#]+)")
    bumped, count = pattern.subn(r"\1.drift", text)
    assert count == 1, f"{name} pinned {count} times"
    return bumped


def _introduced(check, *texts, baseline):
    """Problems `check` finds in the drifted texts that it does not find in `baseline`.

    Comparing with the real files' result keeps these tests about the checker: a real
    drift fails the tests above, not these.
    """
    before = set(check(*baseline))
    return [p for p in check(*texts) if p not in before]


def test_checks_catch_a_requirement_bumped_alone():
    requirements, lock, environment, pyproject = (
        _read(n) for n in ("requirements.txt", "requirements.lock", "environment.yml", "pyproject.toml")
    )
    name = re.split(r"[=<>!~;\[ ]", tomllib.loads(pyproject)["project"]["dependencies"][0])[0]
    drifted = _bump(requirements, name)
    key = canonical(name)
    for check, other in ((check_lock, lock), (check_environment, environment), (check_pyproject, pyproject)):
        problems = _introduced(check, drifted, other, baseline=(requirements, other))
        assert len(problems) == 1 and problems[0].startswith(f"{key}:"), (check.__name__, problems)


def test_checks_catch_a_drifted_environment_yml():
    requirements, environment = _read("requirements.txt"), _read("environment.yml")

    def introduced(drifted):
        return _introduced(check_environment, requirements, drifted, baseline=(requirements, environment))

    missing = "\n".join(line for line in environment.splitlines() if "pytest==" not in line)
    assert [p for p in introduced(missing) if p.startswith("pytest==") and "missing" in p], introduced(missing)
    extra = environment.replace("      - -e .", "      - requests==2.34.2\n      - -e .")
    assert introduced(extra) == ["requests==2.34.2 is in environment.yml pip section but not in requirements.txt"]
    assert len(introduced(environment.replace("      - -e .\n", ""))) == 1
    assert len(introduced(environment.replace("conda-forge", "defaults"))) == 1


def test_checks_catch_an_unpinned_pyproject_dependency_or_lock_entry():
    requirements, pyproject, lock = _read("requirements.txt"), _read("pyproject.toml"), _read("requirements.lock")
    loose = pyproject.replace("dependencies = [", 'dependencies = [\n    "requests>=2",', 1)
    assert _introduced(check_pyproject, requirements, loose, baseline=(requirements, pyproject)) == [
        "pyproject.toml dependencies:1: not an exact 'name==version' pin: 'requests>=2'"
    ]
    editable = lock + "-e /somewhere/adoption-kit\n"
    assert len(_introduced(check_lock, requirements, editable, baseline=(requirements, lock))) == 1


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("pyproject.toml", 'requires-python = ">=3.11,<3.12"', 'requires-python = ">=3.11"'),
        ("environment.yml", "python=3.11", "python=3.12"),
        ("Makefile", "PYTHON ?= python3.11", "PYTHON ?= python3"),
    ],
)
def test_python_check_catches_another_version(file, old, new):
    names = ("pyproject.toml", "environment.yml", "Makefile")
    texts = {name: _read(name) for name in names}
    assert old in texts[file]
    drifted = dict(texts, **{file: texts[file].replace(old, new)})
    problems = _introduced(check_python, *(drifted[n] for n in names), baseline=tuple(texts[n] for n in names))
    assert len(problems) == 1 and problems[0].startswith(file), problems
