"""Tell systemd how the daemon is doing (``sd_notify``), without libsystemd.

systemd passes a ``Type=notify`` service the path of a datagram socket in
``NOTIFY_SOCKET``; the service sends it newline-separated ``KEY=VALUE``
lines: ``READY=1`` once it is up, ``STOPPING=1`` when it begins to shut
down, ``STATUS=...`` for ``systemctl status``, and ``WATCHDOG=1`` at least
once per ``WatchdogSec`` (systemd restarts a service that stays silent).

The protocol is small enough to speak directly, as systemd's own
``notify-selfcontained-example.py`` shows: an ``AF_UNIX``/``SOCK_DGRAM``
socket, where a path starting with ``@`` names a socket in the abstract
namespace. Outside systemd (no ``NOTIFY_SOCKET``) every call does nothing
and returns False, so the daemon never needs to know where it runs.
"""

from __future__ import annotations

import logging
import os
import socket

__all__ = ["notify", "ready", "status", "stopping", "watchdog", "watchdog_interval"]

logger = logging.getLogger(__name__)


def _address(value: str) -> str | bytes | None:
    """The socket address for a NOTIFY_SOCKET value, or None if it is not AF_UNIX."""
    if value.startswith("@"):
        # Abstract namespace: a leading NUL byte instead of the "@".
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


def notify(state: str) -> bool:
    """Send `state` (``"READY=1"``, or several lines) to the service manager.

    :returns: True if a message was sent; False outside systemd or when the
        socket cannot be reached (the daemon keeps running either way).
    """
    value = os.environ.get("NOTIFY_SOCKET")
    if not value:
        return False
    address = _address(value)
    if address is None:
        # vsock: and other families are for VMs; kept runs as a user service.
        logger.debug("NOTIFY_SOCKET %r is not an AF_UNIX socket; not notifying", value)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError as error:
        logger.debug("could not notify the service manager at %r: %s", value, error)
        return False
    return True


def ready() -> bool:
    """Start-up is complete: systemd considers the service started."""
    return notify("READY=1")


def stopping() -> bool:
    """The service is shutting down."""
    return notify("STOPPING=1")


def watchdog() -> bool:
    """A heartbeat: the service is alive and its main loop is turning."""
    return notify("WATCHDOG=1")


def status(text: str) -> bool:
    """A one-line status for ``systemctl status`` (newlines are flattened)."""
    return notify("STATUS=" + " ".join(text.split()))


def watchdog_interval() -> float | None:
    """Seconds between heartbeats systemd expects, or None when no watchdog is set.

    Read from ``WATCHDOG_USEC``; when ``WATCHDOG_PID`` is set it must be
    this process (a child started with the inherited environment must not
    answer for its parent). Heartbeats should go out at half this interval.
    """
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        value = int(usec)
    except ValueError:
        logger.warning("ignoring WATCHDOG_USEC=%r: not a number of microseconds", usec)
        return None
    return value / 1_000_000 if value > 0 else None
