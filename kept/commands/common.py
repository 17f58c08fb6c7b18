"""What every command module shares: the store, the console, JSON output.

Mail text printed to the terminal is shown as data, never as markup or
escapes: tables through `console` and `kept.terminal.add_row`, lines
through `kept.terminal.terminal_line`, JSON through `print_json` (see
`kept.terminal`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kept.clock import parse_day
from kept.commands.numbers import DigestNumbers, is_number, todays_numbers
from kept.errors import UserError
from kept.settings import Settings
from kept.terminal import make_console, terminal_json, terminal_text

if TYPE_CHECKING:
    # Only for annotations: rich, the scanner and TinyDB load when a command needs them.
    from rich.console import Console

    from kept.daemon.scan import ProgressCallback, Scanner
    from kept.extractors.base import CandidateFinder
    from kept.storage.base import Store
    from kept.storage.tinydb_store import TinyDBStore


class PlainFormatter(logging.Formatter):
    """Log records as an interactive command shows them: ``kept: warning: MESSAGE``.

    No time stamp: it helps a service's log, not a person at a terminal.
    The logger's name only with `names` (``-v``), where it tells whose
    trace a line is (``kept: debug: imapclient.imaplib: ...``). The
    service's own format is set apart, in `kept.commands._setup_logging`.
    """

    def __init__(self, names: bool = False) -> None:
        super().__init__()
        self.names = names

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        name = f"{record.name}: " if self.names else ""
        # A warning may quote a subject, a folder or a server's reply.
        return f"kept: {record.levelname.lower()}: {name}{terminal_text(record.message)}"


@contextmanager
def writer_lock(settings: Settings, command: str, *, feedback: bool = False) -> Iterator[None]:
    """Hold the database's writer lock for a command that scans or rewrites it.

    ``kept rebuild`` and ``kept forget`` pass ``feedback=True``: no feedback
    command may act on the database while they change it wholesale. See
    `kept.storage.instance_lock` for who holds what, and why. A ``kept
    rebuild`` killed while it set the database aside is finished first
    (`kept.daemon.rebuild.finish_interrupted_rebuild`).
    """
    from kept.storage.instance_lock import holding_writer

    with holding_writer(settings.database, command, feedback=feedback):
        _finish_interrupted_rebuild(settings)
        yield


@contextmanager
def feedback_lock(settings: Settings, command: str) -> Iterator[None]:
    """Hold the database's feedback lock for a done / snooze / dismiss / mute command.

    When a ``kept rebuild`` was killed while it set the database aside, the
    writer lock is taken first and the rebuild's first part finished, so
    the correction lands in the database that holds the others.
    """
    from kept.storage.files import rebuild_note_path
    from kept.storage.instance_lock import holding_feedback, holding_writer

    if rebuild_note_path(settings.database).exists():
        with holding_writer(settings.database, command):
            _finish_interrupted_rebuild(settings)
    with holding_feedback(settings.database, command):
        yield


def _finish_interrupted_rebuild(settings: Settings) -> None:
    from kept.storage.files import rebuild_note_path

    if rebuild_note_path(settings.database).exists():
        # The daemon's module, only then: it imports the store and the digest.
        from kept.daemon.rebuild import finish_interrupted_rebuild

        finish_interrupted_rebuild(settings.database)


def open_store(settings: Settings) -> TinyDBStore:
    """Open the configured TinyDB database (imported lazily: keeps `kept --help` fast)."""
    from kept.storage.tinydb_store import TinyDBStore

    return TinyDBStore(settings.database)


@contextmanager
def reading(settings: Settings) -> Iterator[TinyDBStore]:
    """The configured database, open for one consistent read (one transaction), closed after."""
    store = open_store(settings)
    try:
        with store.transaction():
            yield store
    finally:
        store.close()


@dataclass
class Correction:
    """One ``kept FAMILY done|snooze|dismiss|mute REF [DAY]`` at work (see `correcting`).

    :ivar command: e.g. ``kept promises done``, for messages.
    :ivar today: the user's day at `now`.
    """

    args: argparse.Namespace
    command: str
    settings: Settings
    store: TinyDBStore
    now: datetime
    today: date

    @cached_property
    def numbers(self) -> DigestNumbers:
        """The numbers of today's digest (read once, when first asked)."""
        return todays_numbers(self.store, self.today)

    def ref(self, kinds: Sequence[str]) -> str:
        """The id given: a digest number becomes the id of the item of `kinds` it stands for."""
        ref: str = self.args.id
        return self.numbers.resolve(ref, kinds, self.command) if is_number(ref) else ref

    def until(self) -> date:
        """For snooze: the day it ends (`snooze_day`)."""
        return snooze_day(self.args.when, self.args.until, self.today, self.command)


@contextmanager
def correcting(args: argparse.Namespace, settings: Settings, now: datetime, listing: str, needs: str) -> Iterator[Correction]:
    """Check the words of ``LISTING ACTION REF [DAY]``, then hold the feedback lock and the open store.

    :param listing: the command that lists these items, e.g. ``kept promises``.
    :param needs: what REF may be, for the message when it is missing.
    """
    command = f"{listing} {args.action}"
    if not args.id:
        raise UserError(f"`{command}` needs {needs}", f"see `{listing}`")
    if args.action != "snooze":
        no_extra_words(args.when, command)
        if args.until:
            raise UserError(f"`{command}` takes no --until", "--until is for snooze")
    with feedback_lock(settings, command):
        store = open_store(settings)
        try:
            yield Correction(args, command, settings, store, now, local_today(settings, now))
        finally:
            store.close()


def console() -> Console:
    """The console tables are printed with: no markup, no emoji codes (`kept.terminal.make_console`)."""
    return make_console()


def print_json(value: Any) -> None:
    """Print `value` as JSON, with no control or bidi character raw (`kept.terminal.terminal_json`)."""
    sys.stdout.write(terminal_json(value) + "\n")


def json_help(what: str, fields: Iterable[str]) -> str:
    """The help of a ``--json`` option, naming the fields of each object it prints."""
    return f"print {what} as JSON, with the fields: {', '.join(fields)}"


def local_today(settings: Settings, now: datetime) -> date:
    """The user's day at `now`, in the configured time zone."""
    return now.astimezone(ZoneInfo(settings.timezone)).date()


def snooze_day(words: Sequence[str], until: str | None, today: date, command: str) -> date:
    """The day a snooze ends: ``friday`` after the id, or ``--until friday``.

    Read by `kept.clock.read_day`, as a reply to the digest reads "snooze 2
    friday": the same forms (docs/commands.md, "Dates"), the next one after
    `today` for a weekday or a day of a month. It must be after `today`.

    :raises UserError: (exit code 1) for no day, two days, a day kept cannot
        read or one that is not after `today`.
    """
    if words and until:
        raise UserError(f"`{command}` got two dates: {' '.join(words)!r} and --until {until!r}", "give one")
    text = " ".join(words) or until or ""
    if not text:
        raise UserError(f"`{command}` needs a day", f"e.g. {command} ID friday (or --until 2026-12-01)")
    option = "--until" if until else "snooze"
    day = parse_day(text, today, option=option, towards="ahead")
    if day <= today:
        raise UserError(
            f"{option} {text!r} is {day:%Y-%m-%d}, not a day after today ({today:%Y-%m-%d})",
            "a snooze needs a day to come back on, like friday, 12 dec, next week or in 3 days",
        )
    return day


def confirm(what: str, command: str, yes: bool) -> None:
    """Ask "This will `what`. Continue? [y/N]" on a terminal; return only on a yes.

    `yes` (``--yes``) answers for the user. Without it, a command whose
    stdin is not a terminal (a script, cron, a pipe) is refused rather than
    run unasked: what these commands throw away cannot be got back.

    :raises NotConfirmedError: on any answer but y/yes (also end of input),
        or when there is no terminal to ask.
    """
    from kept.errors import NotConfirmedError

    if yes:
        return
    if not sys.stdin.isatty():
        raise NotConfirmedError(
            f"`{command}` asks before it goes ahead, and there is no terminal to ask (stdin is not one); "
            "nothing was changed",
            f"run `{command} --yes` to go ahead without asking",
        )
    sys.stderr.write(f"This will {what}. Continue? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if answer.strip().lower() not in ("y", "yes"):
        if not answer.endswith("\n"):
            sys.stderr.write("\n")  # end of input: the prompt's line is still open
        raise NotConfirmedError(f"`{command}` was not confirmed; nothing was changed")


def no_extra_words(words: Sequence[str], command: str) -> None:
    """UserError when words follow the id of a command that takes only an id."""
    if words:
        raise UserError(f"`{command}` takes one id; {' '.join(words)!r} is left over",
                        "to act on several, run it once for each")


def hours(hours: float | None) -> str:
    """Human duration: '45 min', '5 h', '3 days'."""
    if hours is None:
        return "–"
    if hours < 1:
        return f"{max(1, round(hours * 60))} min"
    if hours < 48:
        return f"{round(hours)} h"
    return f"{round(hours / 24)} days"


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path`, readable by the user only (0600, also when it already exists)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}", "choose a path in a folder you can write to") from error


def make_scanner(
    settings: Settings, store: Store, now: datetime, progress: ProgressCallback | None = None
) -> Scanner:
    from kept.daemon.scan import Scanner

    def load_extractor() -> CandidateFinder:
        # Imported here, not above: the extractor's modules (the encoder
        # with NumPy and ONNX Runtime) take a third of a second to import,
        # and a pass that finds no new sent mail never needs them.
        from kept.extractors.promises import PromiseExtractor

        return PromiseExtractor(settings.promises.model)

    return Scanner(
        settings, store,
        extractor_factory=load_extractor,
        now=lambda: now,
        progress=progress,
    )
