"""The log of ``kept run``: where services log, in a form people read.

The service logs at INFO by default: its start, one line per account per
scan, each digest sent (to whom, how many items), each digest reply carried
out, reloads, postponed passes, warnings and errors. ``-v`` adds kept's
debug lines (and other libraries' INFO), ``-vv`` everything; ``-q`` leaves
only warnings and errors (``kept run --once`` from cron, which mails
whatever a job prints).

Where the lines go decides their form:

* under systemd, stderr is connected to the journal and ``JOURNAL_STREAM``
  names that connection (device:inode). Each line then starts with its
  syslog priority, ``<3>`` error, ``<4>`` warning, ``<6>`` info, ``<7>``
  debug, which journald reads (``journalctl -p warning`` filters on it), and
  carries no time stamp: the journal adds its own. Every line of a
  multi-line message (a traceback, a list of configuration problems) carries
  the prefix, since journald reads each line as an entry of its own.
  ``JOURNAL_STREAM`` alone is not enough: a program started from a service
  inherits it with stderr redirected elsewhere, so it must match stderr's
  ``fstat`` (as systemd.exec(5) says);
* anywhere else (a terminal, a file, cron) each line starts with a time stamp.

Interactive commands do not use this: they print ``kept: warning: ...``
(`kept.commands.common.PlainFormatter`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

__all__ = ["JournalFormatter", "setup_service_logging", "stderr_is_journal", "syslog_priority"]

#: The service's lines without a time stamp (the journal's form, after the priority).
JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"
#: The service's lines anywhere else.
STAMPED_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def syslog_priority(level: int) -> int:
    """The syslog priority of a logging level: 2 critical, 3 error, 4 warning, 6 info, 7 debug."""
    if level >= logging.CRITICAL:
        return 2
    if level >= logging.ERROR:
        return 3
    if level >= logging.WARNING:
        return 4
    if level >= logging.INFO:
        return 6
    return 7


def stderr_is_journal(environ: Mapping[str, str] | None = None, stream: TextIO | None = None) -> bool:
    """True when `stream` (stderr) is the journal stream ``JOURNAL_STREAM`` names."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    try:
        status = os.fstat((sys.stderr if stream is None else stream).fileno())
        return (status.st_dev, status.st_ino) == (int(device), int(inode))
    except (ValueError, OSError, AttributeError):  # no such number, no file descriptor
        return False


class JournalFormatter(logging.Formatter):
    """Records as journald reads them: each line prefixed with ``<priority>``, no time stamp."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """The record's text, every line of it carrying the record's priority."""
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


class _LevelFilter(logging.Filter):
    """INFO and up from kept's own loggers, WARNING and up from the libraries (each lowered by ``-v``).

    A filter on the handler rather than levels on the loggers: it changes
    nothing for anyone else listening (tests, a program embedding kept).
    """

    def __init__(self, verbosity: int, quiet: bool = False) -> None:
        super().__init__()
        self.own_level = logging.WARNING if quiet else logging.DEBUG if verbosity else logging.INFO
        self.other_level = logging.WARNING - 10 * min(verbosity, 2)

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name == "kept" or record.name.startswith("kept.")
        return record.levelno >= (self.own_level if own else self.other_level)


def setup_service_logging(verbosity: int, stream: TextIO | None = None, *, quiet: bool = False) -> None:
    """Log as the service does (see the module's description) to `stream` (stderr); only warnings and errors if `quiet`."""
    stream = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(stream)
    if stderr_is_journal(stream=stream):
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter(STAMPED_FORMAT))
    levels = _LevelFilter(verbosity, quiet)
    handler.addFilter(levels)
    logging.basicConfig(level=min(levels.own_level, levels.other_level), handlers=[handler])
