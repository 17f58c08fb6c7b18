"""``kept export`` and ``kept forget``: the user's data, all of it or one person's."""

from __future__ import annotations

import argparse
import itertools
import sys

from kept import __version__
from kept.commands.common import confirm, open_store, writer_lock
from kept.config import load_settings
from kept.errors import UserError
from kept.terminal import terminal_json_stream


def cmd_export(args: argparse.Namespace) -> int:
    """``kept export``: everything the database holds, as one JSON object on stdout."""
    settings = load_settings(args.config_path)
    store = open_store(settings)
    # typeshed types sys.stdout as TextIO; the real one is TextIOWrapper, which has reconfigure.
    sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    # Streamed a record at a time: memory stays that of one record however
    # big the database (issue 16).
    fields = itertools.chain(
        [("kept_version", __version__), ("database", str(settings.database))], store.export_tables()
    )
    try:
        for piece in terminal_json_stream(fields):
            sys.stdout.write(piece)
        sys.stdout.write("\n")
    finally:
        store.close()
    return 0


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
