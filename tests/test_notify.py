"""sd_notify over a real datagram socket, and the per-account backoff."""

from __future__ import annotations

import os
import random
import socket
from datetime import timedelta

import pytest

from kept.daemon import notify
from kept.daemon.backoff import Backoff

from tests.helpers import utc


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    """A bound AF_UNIX datagram socket standing in for systemd; NOTIFY_SOCKET points at it."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def test_ready_stopping_watchdog_and_status_arrive(notify_socket):
    assert notify.ready()
    assert notify.watchdog()
    assert notify.status("scanning\nwork")
    assert notify.stopping()
    received = [notify_socket.recv(4096).decode() for _ in range(4)]
    assert received == ["READY=1", "WATCHDOG=1", "STATUS=scanning work", "STOPPING=1"]


def test_abstract_namespace_socket(monkeypatch):
    name = f"kept-test-{os.getpid()}-{random.randrange(1 << 30)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify.ready()
        assert sock.recv(64) == b"READY=1"


def test_outside_systemd_nothing_happens(monkeypatch, tmp_path):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify.ready() is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert notify.ready() is False
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    assert notify.ready() is False


def test_watchdog_interval(monkeypatch):
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert notify.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "300000000")
    assert notify.watchdog_interval() == 300.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert notify.watchdog_interval() == 300.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for another process
    assert notify.watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_PID")
    monkeypatch.setenv("WATCHDOG_USEC", "soon")
    assert notify.watchdog_interval() is None


# -- backoff -------------------------------------------------------------------


def test_backoff_doubles_up_to_the_maximum_within_jitter_bounds():
    backoff = Backoff(timedelta(minutes=60), rng=random.Random(7))
    now = utc(2026, 3, 18, 9, 0)
    for failures, full_minutes in enumerate([1, 2, 4, 8, 16, 32, 60, 60, 60], start=1):
        retry_at = backoff.failed("work", now)
        pause = retry_at - now
        assert timedelta(minutes=full_minutes) * 0.8 <= pause <= timedelta(minutes=full_minutes), failures
        assert backoff.failures("work") == failures
        assert not backoff.ready("work", now) and backoff.ready("work", retry_at)
    assert backoff.due_retries(now + timedelta(hours=2)) == ["work"]
    backoff.succeeded("work")
    assert backoff.failures("work") == 0 and backoff.ready("work", now) and backoff.retry_at("work") is None


def test_backoff_is_deterministic_with_a_seeded_generator_and_jitters():
    def pauses(seed):
        backoff = Backoff(timedelta(minutes=60), rng=random.Random(seed))
        return [backoff.delay(5) for _ in range(20)]

    assert pauses(1) == pauses(1)
    assert len(set(pauses(1))) > 1  # jitter spreads accounts failing together
    assert pauses(1) != pauses(2)


def test_accounts_back_off_independently():
    backoff = Backoff(timedelta(minutes=60), rng=random.Random(3))
    now = utc(2026, 3, 18, 9, 0)
    for _ in range(4):
        backoff.failed("work", now)
    backoff.failed("home", now)
    assert backoff.failures("work") == 4 and backoff.failures("home") == 1
    assert backoff.retry_at("work") > backoff.retry_at("home")
    backoff.forget_except({"home"})
    assert backoff.failures("work") == 0 and backoff.failures("home") == 1
