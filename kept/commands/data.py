"""``kept export`` and ``kept forget``: the user's data, all of it or one person's."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import shutil
import sys
import tempfile
from collections.abc import Callable
from typing import IO, Any

from kept import __version__
from kept.commands.common import confirm, open_store, writer_lock
from kept.config import load_settings
from kept.errors import UserError
from kept.terminal import terminal_json_stream


def cmd_export(args: argparse.Namespace) -> int:
    """``kept export``: everything the database holds, as one JSON object on stdout."""
    settings = load_settings(args.config_path)
    # Streamed a record at a time, so memory stays that of one record however
    # big the database (issue 16). It goes to a temporary file first: the
    # database stays locked while it is read, and `kept export | less` must
    # not hold the daemon's scan for as long as the pager is open.
    spool: IO[str] = _spool(tempfile.TemporaryFile, "w+", encoding="utf-8")
    try:
        store = open_store(settings)
        tables = store.export_tables()
        fields = itertools.chain([("kept_version", __version__), ("database", str(settings.database))], tables)
        try:
            for piece in terminal_json_stream(fields):
                _spool(spool.write, piece)
            _spool(spool.write, "\n")
            _spool(spool.flush)
        finally:
            # Ends the export's transaction (stopped early by an error or
            # Ctrl-C too) before the store is closed.
            tables.close()
            store.close()
        spool.seek(0)
        # typeshed types sys.stdout as TextIO; the real one is TextIOWrapper, which has reconfigure.
        sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
        shutil.copyfileobj(spool, sys.stdout, 1 << 20)
    finally:
        # Closing flushes what a full disk refused once more; the copy is
        # unlinked already and the error has been reported.
        with contextlib.suppress(OSError):
            spool.close()
    return 0


def _spool(operation: Callable[..., Any], *arguments: Any, **options: Any) -> Any:
    """Make, write or flush `kept export`'s temporary copy; no room or no TMPDIR is one message, not a traceback."""
    try:
        return operation(*arguments, **options)
    except OSError as error:
        raise UserError(
            f"cannot write the export's temporary copy in {tempfile.gettempdir()}: {error.strerror or error}",
            "free some space there, or point TMPDIR at a directory with room for it",
        ) from error


def cmd_forget(args: argparse.Namespace) -> int:
    """``kept forget ADDRESS``: erase everything stored about one person."""
    settings = load_settings(args.config_path)
    address = args.address.strip().lower()
    if "@" not in address:
        raise UserError(f"{args.address!r} is not an e-mail address", "e.g. kept forget ann@example.com")
    if address in {a.lower() for a in settings.addresses}:
        raise UserError(f"{address} is one of your own addresses", "kept forget erases other people")
    confirm(f"erase everything kept stores about {address} (their messages, conversations, promises made to "
            f"them, nudges); mail still in your mailbox comes back at the next `kept rebuild`",
            f"kept forget {address}", args.yes)
    from kept.daemon.forget import forget_person

    with writer_lock(settings, "kept forget", feedback=True):
        store = open_store(settings)
        try:
            removed = forget_person(store, address)
        finally:
            store.close()
    if not removed:
        print(f"Nothing stored about {address}.")
    else:
        summary = ", ".join(f"{count} {name}" for name, count in sorted(removed.items()))
        print(f"Forgot {address}: removed {summary}.")
    return 0
