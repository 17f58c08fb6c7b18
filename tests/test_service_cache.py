"""The service and the promise encoder's graph cache, in the sandbox systemd/kept.service sets up.

``kept run --once`` runs as a child process in a mount namespace of its own
(``unshare --mount``, as root) where the folder standing for the home is
read-only, as ``ProtectHome=read-only`` makes it, and only the folders the
unit makes writable are: the database's (``ReadWritePaths=``) and, as the
unit now has it, the cache (``CacheDirectory=kept``, which systemd names in
``$CACHE_DIRECTORY``). Its stderr is read as the journal reads it.

* A graph missing or stale (another kept's, as after an upgrade) in a cache
  the service may write: the first start builds it, says so in one line and
  keeps it there (the stale one goes); the next start reads it and says
  nothing about it.
* A cache the service may not write (a unit without ``CacheDirectory=``, an
  older copy of it): the service still starts, scans and finds the promise,
  and logs one warning saying what happened and how to fix it; nothing in
  the cache changes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_digest_route import write_config

NOW = "2026-03-18T08:00:00+00:00"
STALE = "promise-encoder-onnx-int8-blocks.0123456789abcdef01234567.onnx"
GRAPH_LINES = re.compile(r"^<\d>.*promise encoder graph.*$", re.MULTILINE)


def mounts_allowed() -> bool:
    tool = shutil.which("unshare")
    if tool is None or os.geteuid() != 0:
        return False
    probe = subprocess.run([tool, "--mount", "sh", "-c", "mount --bind / /mnt && umount /mnt"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not mounts_allowed(), reason="needs root and unshare --mount to set up the sandbox"),
]


def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """A "home" (tmp_path/home) holding the config, the mail, the database folder and a cache with a stale graph."""
    home = tmp_path / "home"
    state = home / ".local/state/kept"
    cache = home / ".cache/kept"
    state.mkdir(parents=True)
    cache.mkdir(parents=True)
    (cache / STALE).write_bytes(b"the graph of the kept before the upgrade")
    config = write_config(home, '[digest]\ndelivery = "none"')
    config.write_text(config.read_text(encoding="utf-8").replace(str(home / "kept.json"), str(state / "kept.json")),
                      encoding="utf-8")
    return home, cache


def run_once(home: Path, cache: Path, *, cache_writable: bool) -> tuple[int, str]:
    """``kept run --once`` with `home` read-only but its database folder (and the cache, if `cache_writable`)."""
    writable = [home / ".local/state/kept", *([cache] if cache_writable else [])]
    mounts = [f"mount --bind {shlex.quote(str(home))} {shlex.quote(str(home))}",
              f"mount -o remount,bind,ro {shlex.quote(str(home))}"]
    for folder in writable:
        quoted = shlex.quote(str(folder))
        mounts += [f"mount --bind {quoted} {quoted}", f"mount -o remount,bind,rw {quoted}"]
    command = shlex.join([sys.executable, "-m", "kept.cli", "--config", str(home / "config.toml"), "--now", NOW,
                          "run", "--once"])
    env = {key: value for key, value in os.environ.items()
           if key not in ("KEPT_CACHE_DIR", "CACHE_DIRECTORY", "KEPT_NOW", "JOURNAL_STREAM")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), XDG_STATE_HOME=str(home / ".local/state"))
    if cache_writable:
        env["CACHE_DIRECTORY"] = str(cache)  # what systemd sets for CacheDirectory=kept
    log_path = home.parent / "stderr.log"
    with log_path.open("wb") as log:
        status = os.fstat(log.fileno())
        env["JOURNAL_STREAM"] = f"{status.st_dev}:{status.st_ino}"
        done = subprocess.run(["unshare", "--mount", "sh", "-ec", " && ".join([*mounts, f"exec {command}"])],
                              env=env, stdout=subprocess.DEVNULL, stderr=log, timeout=600)
    return done.returncode, log_path.read_text(encoding="utf-8")


def test_a_stale_graph_is_built_once_into_the_cache_the_unit_makes_writable(tmp_path: Path) -> None:
    home, cache = sandbox(tmp_path)
    code, log = run_once(home, cache, cache_writable=True)
    assert code == 0, log
    assert "<6>INFO kept.daemon.scan: account local: 1 new messages, 1 new promises" in log, log
    [line] = GRAPH_LINES.findall(log)
    assert re.fullmatch(rf"<6>INFO kept\.extractors\.encoder: built the promise encoder graph in \d+\.\d s; "
                        rf"kept in {re.escape(str(cache))}/promise-encoder-onnx-int8-blocks\.\w+\.onnx "
                        r"for later starts", line), line
    graphs = sorted(path.name for path in cache.iterdir())
    assert len(graphs) == 1 and graphs != [STALE]
    # The next start reads it: no build, nothing to say about it.
    code, log = run_once(home, cache, cache_writable=True)
    assert code == 0, log
    assert GRAPH_LINES.findall(log) == [], log
    assert sorted(path.name for path in cache.iterdir()) == graphs


def test_a_cache_the_service_cannot_write_costs_a_build_and_one_warning_not_the_start(tmp_path: Path) -> None:
    home, cache = sandbox(tmp_path)
    code, log = run_once(home, cache, cache_writable=False)
    assert code == 0, log
    assert "<6>INFO kept.daemon.scan: account local: 1 new messages, 1 new promises" in log, log
    [line] = GRAPH_LINES.findall(log)
    assert line.startswith(f"<4>WARNING kept.extractors.encoder: cannot keep the promise encoder graph in {cache} "
                           "(Read-only file system): built it in memory in "), line
    assert "CacheDirectory=kept" in line and "Traceback" not in log
    assert [path.name for path in cache.iterdir()] == [STALE]
    assert (cache / STALE).read_bytes() == b"the graph of the kept before the upgrade"
