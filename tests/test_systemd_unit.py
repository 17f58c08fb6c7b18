"""systemd/kept.service: systemd accepts it, its sandbox rates "OK", and it
never restarts into an error a restart cannot fix.

The checks run systemd's own `systemd-analyze` (``verify``, and ``security
--offline``, systemd 250 or later); `.ci/install-test-deps.sh` installs it.
They are skipped only where the tool is missing (a machine without systemd).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kept.errors import ConfigError, StorageError

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd/kept.service"
MAX_EXPOSURE = 4.5  # systemd-analyze calls up to 4.5 "OK"


def unit_settings() -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit, by key (systemd allows a key more than once)."""
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (sh .ci/install-test-deps.sh installs it)")
    return tool


def systemd_version(tool: str) -> int:
    first = subprocess.run([tool, "--version"], capture_output=True, text=True, check=True).stdout.split()
    return int(first[1])


@pytest.fixture
def user_home(tmp_path: Path) -> dict[str, str]:
    """An environment whose home holds the kept the unit runs, and a runtime folder.

    `verify` checks that ExecStart names an executable; the user manager's
    specifiers (%h) come from HOME and need XDG_RUNTIME_DIR.
    """
    home = tmp_path / "home"
    venv_bin = home / ".local/share/kept-venv/bin"
    venv_bin.mkdir(parents=True)
    kept = venv_bin / "kept"
    kept.write_text("#!/bin/sh\nexit 0\n")
    kept.chmod(0o755)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "SYSTEMD_"))}
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(runtime), SYSTEMD_PAGER="", SYSTEMD_COLORS="0")
    return env


def test_systemd_accepts_the_unit(user_home, tmp_path):
    tool = systemd_analyze()
    unit = tmp_path / "kept.service"
    shutil.copy(UNIT, unit)
    result = subprocess.run([tool, "--user", "verify", str(unit)], env=user_home, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # Warnings about the unit itself (unknown keys, bad values) do not fail verify.
    assert "kept.service:" not in result.stderr, result.stderr


@pytest.mark.parametrize("manager", ["--user", "--system"])
def test_the_sandbox_rates_ok(user_home, tmp_path, manager):
    tool = systemd_analyze()
    if systemd_version(tool) < 250:
        pytest.skip("systemd-analyze security --offline needs systemd 250 or later")
    unit = tmp_path / "kept.service"
    shutil.copy(UNIT, unit)
    result = subprocess.run(
        [tool, manager, "security", "--offline=yes", "--no-pager", str(unit)],
        env=user_home, capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"Overall exposure level for kept\.service: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout


def test_errors_a_restart_cannot_fix_stop_the_restarts():
    settings = unit_settings()
    assert settings["Restart"] == ["on-failure"]
    prevented = {int(code) for value in settings["RestartPreventExitStatus"] for code in value.split()}
    assert {ConfigError.exit_code, StorageError.exit_code} <= prevented
    # 1 is also what Python exits with after an unexpected exception: that one is retried.
    assert 1 not in prevented and 5 not in prevented


def test_the_service_writes_only_its_database_folder_where_the_kept_command_looks():
    settings = unit_settings()
    assert settings["ProtectSystem"] == ["strict"] and settings["ProtectHome"] == ["read-only"]
    writable = [path for value in settings["ReadWritePaths"] for path in value.split()]
    assert writable == ["%h/.local/state/kept"]
    # platformdirs' state folder, which `kept` uses when KEPT_STATE_DIR is unset;
    # the unit must not point the daemon at another database than the CLI's.
    assert not any("KEPT_STATE_DIR" in value for value in settings.get("Environment", []))
    assert "StateDirectory" not in settings
    assert any("%h/.local/state/kept" in value for value in settings["ExecStartPre"])


@pytest.mark.parametrize("xdg_cache_home", [None, "elsewhere/cache"])
def test_the_service_may_write_the_graph_cache_where_the_kept_command_keeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xdg_cache_home: str | None
) -> None:
    """CacheDirectory=kept: for a user unit, $XDG_CACHE_HOME/kept (~/.cache/kept), writable under
    ProtectHome=read-only and named in $CACHE_DIRECTORY (systemd.exec(5), "Automatic directory creation").

    Without it a graph missing or stale after an upgrade was built again at every start.
    """
    from kept.extractors.encoder import cache_dir

    settings = unit_settings()
    assert settings["CacheDirectory"] == ["kept"] and settings["CacheDirectoryMode"] == ["0700"]
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KEPT_CACHE_DIR", raising=False)
    monkeypatch.delenv("CACHE_DIRECTORY", raising=False)
    if xdg_cache_home is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        units_cache = tmp_path / ".cache" / "kept"
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / xdg_cache_home))
        units_cache = tmp_path / xdg_cache_home / "kept"
    # Where the kept command (and scripts/install.sh) build it, the service finds it,
    assert cache_dir() == units_cache
    # and inside the unit kept takes the folder systemd names.
    monkeypatch.setenv("CACHE_DIRECTORY", str(units_cache))
    assert cache_dir() == units_cache
