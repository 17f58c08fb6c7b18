"""``kept export`` and ``kept forget``: the user's data, all of it or one person's."""

from __future__ import annotations

import argparse
import sys

from kept import __version__
from kept.commands.common import confirm, open_store, print_json, writer_lock
from kept.config import load_settings
from kept.errors import UserError


def cmd_export(args: argparse.Namespace) -> int:
    """``kept export``: everything the database holds, as one JSON object on stdout."""
    settings = load_settings(args.config_path)
    store = open_store(settings)
    try:
        exported = store.export()
    finally:
        store.close()
    # typeshed types sys.stdout as TextIO; the real one is TextIOWrapper, which has reconfigure.
    sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    print_json({"kept_version": __version__, "database": str(settings.database), **exported})
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
