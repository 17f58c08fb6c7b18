"""``kept digest``: show today's digest (text, HTML, e-mail, JSON) or send it now."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kept.clock import parse_now
from kept.commands.common import open_store, print_json, write_private, writer_lock
from kept.commands.numbers import todays_numbers
from kept.config import load_settings
from kept.terminal import terminal_line, terminal_text


#: The fields of the object ``kept digest --json`` prints (as `--help` lists them).
DIGEST_JSON_FIELDS = (
    "day", "generated_at", "timezone", "account", "subject", "item_count", "index", "sections", "history",
    "kept_recently", "notes", "health", "reply_lag",
)


def cmd_digest(args: argparse.Namespace) -> int:
    """Show the digest (--preview, optionally --html FILE) or send it now (--send)."""
    from kept.digest.build import build_digest
    from kept.digest.render import digest_data, render_digest, render_html, render_text

    settings = load_settings(args.config_path)
    now = parse_now(args.now)
    if args.send:
        from kept.daemon.run import send_digest_if_due

        with writer_lock(settings, "kept digest --send"):
            store = open_store(settings)
            try:
                message_id = send_digest_if_due(store, settings, now, force=True)
            finally:
                store.close()
        if not args.quiet:
            print(f"Sent the digest to {settings.digest_to} ({message_id})")
        return 0
    store = open_store(settings)
    try:
        with store.transaction():
            digest = build_digest(store, now, settings)
            sent = todays_numbers(store, digest.day)
    finally:
        store.close()
    preview_numbers = {number: ((kind, ref_id),) for number, kind, ref_id in digest.index}
    if sent.sent and preview_numbers != sent.items:
        # "done 3" goes by the digest in the user's inbox, not by this preview.
        print("kept: today's digest was already sent and numbered its items otherwise; this preview's "
              "numbers are not the ones `done 3` acts on (in a reply or here): `kept threads`, "
              "`kept promises` and `kept nudges` show those", file=sys.stderr)
    # The preview holds names and sentences from the user's mail: private,
    # like the database.
    if args.html:
        write_private(Path(args.html), render_html(digest).encode("utf-8"))
        print(f"Wrote {args.html}", file=sys.stderr)
    if args.eml:
        write_private(Path(args.eml), bytes(render_digest(digest, settings)))
        print(f"Wrote {args.eml}", file=sys.stderr)
    if args.json:
        print_json(digest_data(digest))
        return 0
    print(f"Subject: {terminal_line(digest.subject)}\n")
    # The text part escapes what it shows already (`kept.digest.render`); this is the terminal's own guard.
    print(terminal_text(render_text(digest)))
    return 0
