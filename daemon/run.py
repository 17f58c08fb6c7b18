"""``kept run``: the long-running daemon.

The daemon loads the configuration, the database and the language model
once, then loops:

* every ``[daemon] scan_every_minutes`` it scans every account (`Scanner`);
  an account that fails is retried on its own schedule, with exponential
  backoff and jitter (`kept.daemon.backoff`), and never holds up the others;
* at ``[digest] send_at`` in ``[kept] timezone`` it sends the digest. Both
  are jobs of its own `schedule.Scheduler`, driven by the daemon's clock;
* replies to a digest are read while they are scanned and carried out at
  the end of the pass, as by every command that scans (`kept.daemon.replies`).

The digest goes out at most once per local day, across restarts: it is
planned (Message-ID, numbering, the message) before it is sent, and meta
``last_digest_date`` is written after the send succeeded; a retry resends
the planned message, never a different digest (`send_digest_if_due`). A
digest that was missed (machine asleep, daemon down at send time) goes out
at start-up or on wake, once.

Signals only set flags. SIGTERM and SIGINT stop the daemon after the batch
being stored (the scanner checks between batches), so nothing is lost;
SIGHUP reloads the configuration and scans at once; a broken new
configuration is logged and ignored while the daemon keeps running on the
old one.

With a fixed ``--now`` (replaying an old mailbox) the clock still advances:
it is that moment plus the time elapsed since start-up.

Under systemd (``Type=notify``) the daemon sends ``READY=1`` when it is up,
``WATCHDOG=1`` at half the watchdog interval (also message by message in a long
scan), ``STATUS=`` lines and ``STOPPING=1``.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import email
import email.policy
import logging
import os
import random
import select
import signal
import socket
import time
from collections.abc import Callable
from functools import wraps
from datetime import date, datetime, timedelta, timezone
from datetime import time as time_of_day
from pathlib import Path
from email.message import EmailMessage
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import schedule

from kept.clock import parse_now
from kept.config import load_settings
from kept.daemon import notify
from kept.daemon.backoff import Backoff
from kept.daemon.rebuild import finish_interrupted_rebuild
from kept.daemon.replies import new_digest_message_id
from kept.daemon.scan import AccountScan, Scanner
from kept.digest.build import build_digest
from kept.digest.render import render_digest
from kept.errors import (
    EXIT_DELIVERY, EXIT_SCAN_FAILED, ConfigError, DatabaseBusyError, KeptError, UserError,
)
from kept.extractors.base import CandidateFinder
from kept.extractors.promises import PromiseExtractor
from kept.mailboxes.base import MailSource
from kept.mailboxes.factory import source_for
from kept.mailboxes.smtp import route_problem, sender_for
from kept.settings import Account, Settings
from kept.storage.base import Store
from kept.storage.files import rebuild_note_path
from kept.storage.instance_lock import SERVICE, WRITER, InstanceLock
from kept.storage.meta import meta_day, meta_records, meta_strings
from kept.storage.tinydb_store import TinyDBStore

__all__ = [
    "ClockScheduler",
    "Daemon",
    "ReplayClock",
    "main_run",
    "run",
    "send_digest_if_due",
]

logger = logging.getLogger(__name__)

EXIT_OK = 0

# The loop wakes at least this often (seconds), so a wall-clock jump after
# suspend is noticed quickly and flags set by signals are never left waiting.
MAX_SLEEP = 30.0
# A job postponed because a command held the writer lock is tried again this often (seconds).
POSTPONED_RETRY = 5.0
# Before sending the digest, scan again if the last scan is older than this.
FRESH_SCAN = timedelta(minutes=1)
# Replies to digests older than the last this many are reported, not obeyed.
SENT_DIGESTS_KEPT = 60
# A digest that could not be sent is retried with backoff up to this pause.
DIGEST_RETRY_MAX = timedelta(minutes=30)
_DIGEST_RETRY_KEY = "digest delivery"


# -- the clock ------------------------------------------------------------


class ReplayClock:
    """The daemon's time: real UTC time, or a fixed start that keeps moving.

    :param start: a fixed moment (``--now``); None for the real clock.
    :param monotonic: source of elapsed seconds (injectable for tests).
    """

    def __init__(self, start: datetime | None = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        if start is not None and start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        self.start = start
        self._monotonic = monotonic
        self._started = monotonic()

    def __call__(self) -> datetime:
        if self.start is None:
            return datetime.now(timezone.utc)
        return self.start + timedelta(seconds=self._monotonic() - self._started)


class _ClockJob(schedule.Job):
    """A `schedule.Job` that reads its scheduler's clock instead of the system time.

    ``next_run`` is a tz-aware datetime. Daily jobs with ``.at("HH:MM")``
    run at that local time in the scheduler's time zone.
    """

    scheduler: ClockScheduler

    @property
    def should_run(self) -> bool:
        """True when the job's time has come on the scheduler's clock."""
        assert self.next_run is not None, "must run _schedule_next_run before"
        return self.scheduler.clock() >= self.next_run

    def run(self) -> Any:
        """Run the job and schedule its next run."""
        logger.debug("running job %s", self.job_func)
        assert self.job_func is not None, "Job.do sets job_func before the job is scheduled"
        result = self.job_func()
        self.last_run = self.scheduler.clock()
        self._schedule_next_run()
        return result

    def _schedule_next_run(self) -> None:
        if self.unit not in ("seconds", "minutes", "hours", "days", "weeks"):
            raise schedule.ScheduleValueError(f"unsupported unit {self.unit!r}")
        if self.start_day is not None or self.latest is not None:
            raise schedule.ScheduleValueError("weekday and randomized jobs are not supported here")
        now = self.scheduler.clock()
        if self.unit == "days" and self.at_time is not None:
            zone = self.scheduler.zone
            day = now.astimezone(zone).date()
            candidate = datetime.combine(day, self.at_time, tzinfo=zone)
            while candidate <= now:
                day += timedelta(days=self.interval)
                candidate = datetime.combine(day, self.at_time, tzinfo=zone)
            self.next_run = candidate
        else:
            self.next_run = now + timedelta(**{self.unit: self.interval})


class ClockScheduler(schedule.Scheduler):
    """A `schedule.Scheduler` on an injected clock and time zone.

    The daemon's clock may be a replay of an old day (``--now``), so jobs
    cannot read the system time; everything else is the library's.

    :param clock: returns the current tz-aware time.
    :param zone: the time zone of ``.at("HH:MM")`` times.
    """

    def __init__(self, clock: Callable[[], datetime], zone: ZoneInfo) -> None:
        super().__init__()
        self.clock = clock
        self.zone = zone

    def every(self, interval: int = 1) -> _ClockJob:
        """Start defining a job, as `schedule.Scheduler.every`."""
        return _ClockJob(interval, self)

    @property
    def idle_seconds(self) -> float | None:
        """Seconds until the next job is due (negative if overdue), or None."""
        next_run = self.get_next_run()
        if next_run is None:
            return None
        return (next_run - self.clock()).total_seconds()


# -- the digest -----------------------------------------------------------


def send_time(settings: Settings, day: date) -> datetime:
    """The moment the digest of `day` is due (``send_at`` local time)."""
    return datetime.combine(day, time_of_day.fromisoformat(settings.digest.send_at), tzinfo=ZoneInfo(settings.timezone))


def send_digest_if_due(
    store: Store,
    settings: Settings,
    now: datetime,
    *,
    force: bool = False,
    build: Callable[..., Any] | None = None,
    render: Callable[..., Any] | None = None,
    sender_factory: Callable[[Settings], Any] | None = None,
) -> str | None:
    """Send today's digest if it is due and was not sent yet; return its Message-ID.

    Due means: `now` is at or after today's ``send_at`` (in the configured
    time zone) and meta ``last_digest_date`` is not today. An empty digest
    is not sent unless ``send_empty`` is set. `force` (``kept digest
    --send``) skips both checks and always builds a new digest.

    Before the message is handed over, one transaction records it in meta
    ``sent_digests`` (with its index, so a reply's numbers can be resolved)
    and keeps the message itself in meta ``digest_outbox``. Once it is
    handed over, a second one sets ``last_digest_date``, drops the outbox
    and clears the pending notes it carried. A retry the same day (after a
    failure, or a kill between the two) sends the planned message again,
    same Message-ID and same bytes, or nothing if a scan already found it in
    a mailbox; a plan left from an earlier day is not sent.

    With ``[digest] per_account = true`` and several accounts, each account
    gets its own digest, with its own "once a day" record
    (``last_digest_date:NAME``); pending notes ride in the first one sent.

    :returns: the Message-ID sent (the last one, per account), or None when
        nothing was due.
    :raises KeptError: or OSError when delivery failed (the plan stays for
        the retry; the digest is not recorded as sent).
    """
    if settings.digest.delivery == "none" and not force:
        return None
    build = build or build_digest
    render = render or render_digest
    sender_factory = sender_factory or sender_for
    if settings.digest.per_account and len(settings.accounts) > 1:
        sent_id = None
        for account in settings.accounts:
            message_id = _send_one_digest(
                store, settings, now, force, build, render, sender_factory, account.name
            )
            sent_id = message_id or sent_id
        return sent_id
    return _send_one_digest(store, settings, now, force, build, render, sender_factory, None)


def _send_one_digest(
    store: Store,
    settings: Settings,
    now: datetime,
    force: bool,
    build: Callable[..., Any],
    render: Callable[..., Any],
    sender_factory: Callable[[Settings], Any],
    account: str | None,
) -> str | None:
    """Build, plan, send and confirm one digest: all accounts (`account` None) or one.

    The plan (`_plan_digest`) is written before the message is handed over,
    so a kill between the server accepting it and `_confirm_digest` leaves
    the plan behind; the next attempt that day sends the very same message
    again instead of a new digest.
    """
    last_key = "last_digest_date" if account is None else f"last_digest_date:{account}"
    outbox_key = "digest_outbox" if account is None else f"digest_outbox:{account}"
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    with store.transaction():
        last = meta_day(store, last_key)
        notes = meta_strings(store, "pending_notes")
        planned = _readable_plan(store.get_meta(outbox_key), outbox_key)
    if planned is not None and planned["date"] != today.isoformat():
        # An earlier day's digest, delivered or not: replies to it still
        # count (its record in sent_digests stays); today's is new.
        logger.warning("the digest of %s was never confirmed as sent; it is not sent again", planned["date"])
        _drop_plan(store, outbox_key, planned["message_id"])
        planned = None
    if not force:
        if now < send_time(settings, today):
            return None
        if last is not None and last >= today:
            return None
    if planned is not None and not force:
        message_id = str(planned["message_id"])
        notes = [str(note) for note in planned["notes"]]
        if _seen_in_a_mailbox(store, settings, message_id):
            logger.info("digest for %s: %s already arrived, not sent again", today.isoformat(), message_id)
        else:
            logger.warning("digest for %s: sending %s again, as planned (an earlier attempt did not finish)",
                           today.isoformat(), message_id)
            message = email.message_from_bytes(base64.b64decode(planned["message"]), policy=email.policy.default)
            sender_factory(settings).send(message)
        items = planned["items"] if isinstance(planned.get("items"), int) else 0
    else:
        if account is None:
            digest = build(store, now, settings, notes=tuple(notes))
        else:
            digest = build(store, now, settings, notes=tuple(notes), account=account)
        if digest.is_empty and not settings.digest.send_empty and not force:
            logger.info("digest for %s%s: nothing to report, not sent", today.isoformat(),
                        f" ({account})" if account else "")
            return None
        # Made first: a route that is not configured fails before a plan is written.
        sender = sender_factory(settings)
        message_id = new_digest_message_id(settings, today)
        message = render(digest, settings, message_id=message_id)
        items = len(digest.index)
        _plan_digest(store, outbox_key, message_id, message, today, now, digest.index, notes, account)
        sender.send(message)
    _confirm_digest(store, last_key, outbox_key, message_id, today, notes)
    logger.info("digest for %s%s sent to %s: %d items", today.isoformat(), f" ({account})" if account else "",
                settings.digest_to, items)
    return message_id


def _readable_plan(value: Any, key: str) -> dict[str, Any] | None:
    """The planned digest in meta `key`, or None (also for a hand-edited value of the wrong shape)."""
    if value is None:
        return None
    if (
        isinstance(value, dict)
        and all(isinstance(value.get(field), str) for field in ("message_id", "date", "message"))
        and isinstance(value.get("notes"), list)
    ):
        try:
            base64.b64decode(value["message"], validate=True)
        except ValueError:
            pass
        else:
            return value
    logger.warning("meta %s is not a planned digest; ignoring it", key)
    return None


def _plan_digest(
    store: Store,
    outbox_key: str,
    message_id: str,
    message: EmailMessage,
    today: date,
    now: datetime,
    index: Any,
    notes: list[str],
    account: str | None = None,
) -> None:
    """Record a digest before it is sent: its numbering in ``sent_digests``, the message in `outbox_key`.

    `account` is the one account it covers (``[digest] per_account``), or None.

    From here on a reply to it is obeyed, and a retry sends these bytes
    again, under the same Message-ID, never a second different digest.
    """
    with store.transaction():
        sent: dict[str, Any] = meta_records(store, "sent_digests")
        sent[message_id] = {
            "date": today.isoformat(),
            "sent_at": now.isoformat(),
            "account": account or "",
            "index": [[int(number), kind, ref] for number, kind, ref in index],
        }
        if len(sent) > SENT_DIGESTS_KEPT:
            newest = sorted(sent.items(), key=lambda item: str(item[1].get("sent_at", "")))[-SENT_DIGESTS_KEPT:]
            sent = dict(newest)
        store.set_meta("sent_digests", sent)
        store.set_meta(outbox_key, {
            "message_id": message_id,
            "date": today.isoformat(),
            "notes": notes,
            "items": len(index),
            "message": base64.b64encode(bytes(message)).decode("ascii"),
        })


def _seen_in_a_mailbox(store: Store, settings: Settings, message_id: str) -> bool:
    """True if a scan already stored the digest `message_id`: it was delivered."""
    with store.transaction():
        return any(store.has_message(account.name, message_id) for account in settings.accounts)


def _drop_plan(store: Store, outbox_key: str, message_id: str) -> None:
    with store.transaction():
        current = store.get_meta(outbox_key)
        if isinstance(current, dict) and current.get("message_id") == message_id:
            store.set_meta(outbox_key, None)


def _confirm_digest(
    store: Store, last_key: str, outbox_key: str, message_id: str, today: date, notes: list[str]
) -> None:
    """The digest was handed over: today's is done, the plan goes, the notes it carried too."""
    with store.transaction():
        store.set_meta(last_key, today.isoformat())
        current = store.get_meta(outbox_key)
        if isinstance(current, dict) and current.get("message_id") == message_id:
            store.set_meta(outbox_key, None)
        # Notes queued while the digest was being sent stay for the next one.
        pending = meta_strings(store, "pending_notes")
        for note in notes:
            if note in pending:
                pending.remove(note)
        store.set_meta("pending_notes", pending)


# -- the daemon -----------------------------------------------------------


def _default_store(settings: Settings) -> Store:
    return TinyDBStore(settings.database)


def _default_extractor(settings: Settings) -> CandidateFinder:
    return PromiseExtractor(settings.promises.model)


_Job = TypeVar("_Job", bound=Callable[..., Any])


def _one_writer(job: str, postponed: Callable[[], Any]) -> Callable[[_Job], _Job]:
    """Run the decorated job holding the database's writer lock (`kept.storage.instance_lock`).

    The service takes the lock around each job, never between them, so
    ``kept scan``, ``kept rebuild`` and ``kept forget`` can run while it is
    installed. When one of them holds the lock, the service postpones the job
    to the next turn of its loop and returns ``postponed()``; ``kept run --once``
    waits briefly and then fails with `DatabaseBusyError`, as ``kept scan`` does.
    """

    def decorate(method: _Job) -> _Job:
        @wraps(method)
        def locked(self: Daemon, *args: Any, **kwargs: Any) -> Any:
            lock = self._writer
            if lock is None:
                return method(self, *args, **kwargs)
            try:
                lock.acquire(wait=0.0 if self._service is not None else None)
            except DatabaseBusyError as exc:
                if self._service is None:
                    raise
                if job not in self._postponed:
                    logger.info("%s postponed: %s", job, str(exc).splitlines()[0])
                    notify.status(f"{job} postponed: another kept command is writing to the database")
                self._postponed.add(job)
                return postponed()
            try:
                self._postponed.discard(job)
                finish_interrupted_rebuild(lock.database)
                return method(self, *args, **kwargs)
            finally:
                lock.release()

        return locked  # type: ignore[return-value]

    return decorate


class Daemon:
    """The state of one ``kept run``.

    :param settings_path: the config file (None: the default location).
    :param now_override: replay from this moment (``--now``); None for real time.

    The keyword arguments exist for tests: the clock, where mail, the store
    and the extractor come from, how the digest is built, rendered and sent,
    and the random generator of the backoff.

    Use `start`, then `run_forever` (or `tick` in steps), then `close`.
    """

    def __init__(
        self,
        settings_path: Path | None,
        now_override: datetime | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        source_factory: Callable[[Account], MailSource] = source_for,
        store_factory: Callable[[Settings], Store] = _default_store,
        extractor_factory: Callable[[Settings], CandidateFinder] = _default_extractor,
        build: Callable[..., Any] | None = None,
        render: Callable[..., Any] | None = None,
        sender_factory: Callable[[Settings], Any] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings_path = settings_path
        self.clock = clock or ReplayClock(now_override)
        self.source_factory = source_factory
        self.store_factory = store_factory
        self.extractor_factory = extractor_factory
        self.build = build
        self.render = render
        self.sender_factory = sender_factory
        self.rng = rng or random.Random()
        self.settings: Settings | None = None
        self.store: Store | None = None
        self.scanner: Scanner | None = None
        self.scheduler: ClockScheduler | None = None
        self.backoff: Backoff | None = None
        self.digest_backoff = Backoff(DIGEST_RETRY_MAX, rng=self.rng, kind="")
        self._extractor: CandidateFinder | None = None
        self._stop = False
        self._reload = False
        self._last_scan: datetime | None = None
        self._watchdog_every: float | None = None
        self._last_heartbeat = 0.0
        self._wakeup: socket.socket | None = None
        # The database's writer lock (taken around each job) and, for the
        # service, the lock it holds for its lifetime; see `_one_writer`.
        self._writer: InstanceLock | None = None
        self._service: InstanceLock | None = None
        self._postponed: set[str] = set()
        # Why the last attempt to send the digest failed (None: it did not); `run_once`'s exit code.
        self.digest_failure: Exception | None = None

    # -- flags (the only things signal handlers touch) -------------------

    def request_stop(self) -> None:
        """Stop after the batch being stored; safe to call from a signal handler."""
        self._stop = True

    def request_reload(self) -> None:
        """Reload the config at the next turn of the loop; safe from a signal handler."""
        self._reload = True

    @property
    def stopping(self) -> bool:
        """True once a stop was requested."""
        return self._stop

    # -- start-up and shut-down -------------------------------------------

    def start(self, service: bool = False) -> None:
        """Load config, database and model, schedule the jobs, tell systemd we are ready.

        :param service: run as the service (``kept run``, not ``--once``):
            refuse to start beside another one, and postpone a job while a
            command holds the writer lock instead of failing.
        :raises UserError: when the config, database or model cannot be loaded.
        :raises DatabaseBusyError: when another ``kept run`` serves this database.
        """
        settings = load_settings(self.settings_path)
        command = "kept run" if service else "kept run --once"
        self._writer = InstanceLock(settings.database, WRITER, command)
        if service:
            self._service = InstanceLock(settings.database, SERVICE, command, wait=0.0)
            self._service.acquire()
        try:
            self._finish_interrupted_rebuild()
            self.store = self.store_factory(settings)
            self._extractor = self.extractor_factory(settings)
        except BaseException:
            self.close()
            raise
        self._apply_settings(settings)
        interval = notify.watchdog_interval()
        self._watchdog_every = interval / 2 if interval else None
        logger.info(
            "kept daemon started: %d account(s), scanning every %d min, digest at %s %s",
            len(settings.accounts), settings.daemon.scan_every_minutes,
            settings.digest.send_at, settings.timezone,
        )
        problem = route_problem(settings)
        if problem is not None:
            logger.warning("no digest can be sent: %s", problem)
        notify.ready()
        notify.status("started; first scan running")

    def _finish_interrupted_rebuild(self) -> None:
        """Before the store opens: finish a ``kept rebuild`` killed while it set the database aside.

        The writer that holds the lock now, if one does, finishes it instead
        (every writer does, `kept.commands.common.writer_lock`).
        """
        assert self._writer is not None
        if not rebuild_note_path(self._writer.database).exists():
            return
        try:
            self._writer.acquire()
        except DatabaseBusyError:
            return
        try:
            finish_interrupted_rebuild(self._writer.database)
        finally:
            self._writer.release()

    def _apply_settings(self, settings: Settings) -> None:
        """Use `settings` from now on: scanner, backoff and schedule."""
        assert self.store is not None
        self.settings = settings
        scanner = Scanner(
            settings, self.store,
            extractor_factory=lambda: self._extractor,  # type: ignore[arg-type, return-value]
            source_factory=self.source_factory,
            now=self.clock,
        )
        scanner.stop_requested = self._between_batches
        scanner.heartbeat = self._heartbeat
        self.scanner = scanner
        maximum = timedelta(minutes=settings.daemon.retry_max_minutes)
        if self.backoff is None:
            self.backoff = Backoff(maximum, rng=self.rng)
        else:
            self.backoff.maximum = max(maximum, self.backoff.base)
            self.backoff.forget_except({a.name for a in settings.accounts})
        self.scheduler = ClockScheduler(self.clock, ZoneInfo(settings.timezone))
        self.scheduler.every(settings.daemon.scan_every_minutes).minutes.do(self.scan_pass)
        self.scheduler.every().day.at(settings.digest.send_at).do(self.digest_job)

    def close(self) -> None:
        """Release the database and its locks."""
        if self.store is not None:
            self.store.close()
            self.store = None
        if self._service is not None:
            self._service.release()
            self._service = None

    # -- the loop -----------------------------------------------------------

    def run_once(self) -> int:
        """``kept run --once``: one scan, the digest if due, then return the exit code."""
        results = self.scan_pass()
        if not self._stop:
            self.digest_job(scan_first=False)
        if any(r.error for r in results):
            return EXIT_SCAN_FAILED
        failure = self.digest_failure
        if failure is not None:
            # Cron mails the log of a run that fails; the digest it expected did not go out.
            return failure.exit_code if isinstance(failure, UserError) else EXIT_DELIVERY
        return EXIT_OK

    def run_forever(self) -> int:
        """Scan, send, sleep until stopped; return the exit code (0)."""
        self.scan_pass()
        if not self._stop:
            self.digest_job(scan_first=False)  # a digest missed while down goes out now
        while not self._stop:
            timeout = self.tick()
            if self._stop:
                break
            self._sleep(timeout)
        return EXIT_OK

    def tick(self) -> float:
        """One turn of the loop: reload, due jobs, retries, heartbeat.

        :returns: seconds until something will be due (the loop sleeps that long).
        """
        assert self.scheduler is not None and self.backoff is not None
        if self._reload:
            self._reload = False
            # A reload may add accounts; and `systemctl --user reload kept`
            # doubles as "scan now", e.g. right after answering the digest.
            if self.reload() and not self._stop:
                self.scan_pass()
        self._heartbeat()
        if not self._stop and self._postponed:
            # The command that held the writer lock may be done: try again.
            if "scan" in self._postponed:
                self.scan_pass()
            if "digest" in self._postponed and not self._stop:
                self.digest_job()
        if not self._stop:
            self.scheduler.run_pending()
        now = self.clock()
        if not self._stop:
            due = self.backoff.due_retries(now)
            if due:
                self._scan_accounts(due)
        if not self._stop:
            retry_at = self.digest_backoff.retry_at(_DIGEST_RETRY_KEY)
            if retry_at is not None and now >= retry_at:
                self.digest_job()
        self._heartbeat()
        return self._next_wake()

    def _next_wake(self) -> float:
        assert self.scheduler is not None and self.backoff is not None
        now = self.clock()
        waits = [MAX_SLEEP if not self._postponed else POSTPONED_RETRY]
        idle = self.scheduler.idle_seconds
        if idle is not None:
            waits.append(idle)
        for name in [a.name for a in self.settings.accounts] + [_DIGEST_RETRY_KEY]:  # type: ignore[union-attr]
            backoff = self.digest_backoff if name == _DIGEST_RETRY_KEY else self.backoff
            retry_at = backoff.retry_at(name)
            if retry_at is not None:
                waits.append((retry_at - now).total_seconds())
        if self._watchdog_every:
            waits.append(self._last_heartbeat + self._watchdog_every - time.monotonic())
        return max(0.0, min(waits))

    def _sleep(self, seconds: float) -> None:
        """Wait, returning early when a signal arrives (it writes to the wake-up socket)."""
        if self._wakeup is None:
            time.sleep(min(seconds, 1.0))
            return
        ready, _, _ = select.select([self._wakeup], [], [], seconds)
        if ready:
            try:
                while self._wakeup.recv(4096):
                    pass
            except (BlockingIOError, InterruptedError):
                pass

    def _heartbeat(self) -> None:
        if self._watchdog_every is None:
            return
        if time.monotonic() - self._last_heartbeat >= self._watchdog_every:
            notify.watchdog()
            self._last_heartbeat = time.monotonic()

    def _between_batches(self) -> bool:
        """The scanner's stop check, run between batches; also feeds the watchdog in long scans."""
        self._heartbeat()
        return self._stop

    # -- jobs -----------------------------------------------------------------

    def scan_pass(self) -> list[AccountScan]:
        """Scan every account whose retry pause (if failing) is over."""
        assert self.settings is not None and self.backoff is not None
        now = self.clock()
        names = [a.name for a in self.settings.accounts if self.backoff.ready(a.name, now)]
        return self._scan_accounts(names)

    @_one_writer("scan", postponed=list)
    def _scan_accounts(self, names: list[str]) -> list[AccountScan]:
        assert self.settings is not None and self.scanner is not None and self.store is not None
        assert self.backoff is not None
        results: list[AccountScan] = []
        for account in self.settings.accounts:
            if account.name not in names:
                continue
            if self._stop:
                break
            results.append(self.scanner.scan_account(account, record=False))
        every_account = len(results) == len(self.settings.accounts)
        self.scanner.carry_out_replies(complete=every_account and not any(r.error for r in results))
        now = self.clock()
        self._last_scan = now
        # The accounts' health and the time of the scan in one write: each
        # write rewrites the main file (77 MB at 200,000 messages), and a pass
        # that found nothing new wrote it once per account and once more.
        # A write that fails (disk full) becomes each account's error.
        self.scanner.record_results(results, last_scan=True)
        for result in results:
            if result.error:
                self.backoff.failed(result.account, now)
            else:
                self.backoff.succeeded(result.account)
        failing = [a.name for a in self.settings.accounts if self.backoff.failures(a.name)]
        line = f"last scan {now:%Y-%m-%d %H:%M} UTC"
        if failing:
            line += "; failing: " + ", ".join(failing)
        notify.status(line)
        return results

    @_one_writer("digest", postponed=lambda: None)
    def digest_job(self, scan_first: bool = True) -> str | None:
        """Send today's digest if it is due (scanning first if the last scan is stale)."""
        assert self.settings is not None and self.store is not None
        now = self.clock()
        if now < send_time(self.settings, now.astimezone(ZoneInfo(self.settings.timezone)).date()):
            return None
        if scan_first and (self._last_scan is None or now - self._last_scan > FRESH_SCAN):
            self.scan_pass()
            if self._stop:
                return None
            now = self.clock()
        try:
            message_id = send_digest_if_due(
                self.store, self.settings, now,
                build=self.build, render=self.render, sender_factory=self.sender_factory,
            )
        except (KeptError, OSError) as exc:
            self.digest_failure = exc
            retry_at = self.digest_backoff.failed(_DIGEST_RETRY_KEY, self.clock())
            retry = f" (next try {retry_at:%Y-%m-%d %H:%M} UTC)" if self._service is not None else ""
            logger.error("could not send the digest%s: %s", retry, exc)
            notify.status(f"digest delivery failing: {str(exc).splitlines()[0]}")
            return None
        self.digest_failure = None
        self.digest_backoff.succeeded(_DIGEST_RETRY_KEY)
        return message_id

    # -- reloads ------------------------------------------------------------

    def reload(self) -> bool:
        """Read the config file again; on any problem keep the running one. True if reloaded."""
        assert self.settings is not None
        try:
            new = load_settings(self.settings_path)
        except ConfigError as exc:
            logger.error("not reloading: the new configuration is invalid; still running on the old one.\n%s", exc)
            notify.status("config reload failed; running on the previous configuration")
            return False
        except Exception:  # a bug in reading the file must not end a running daemon
            logger.exception("not reloading: reading the new configuration failed; still running on the old one")
            notify.status("config reload failed; running on the previous configuration")
            return False
        if new.database != self.settings.database:
            logger.warning(
                "the database moved from %s to %s; kept uses the new path after a restart",
                self.settings.database, new.database,
            )
            new = dataclasses.replace(new, database=self.settings.database)
        extractor = self._extractor
        if new.promises.model != self.settings.promises.model:
            try:
                extractor = self.extractor_factory(new)
            except KeptError as exc:
                logger.error("not reloading: cannot load model %s: %s", new.promises.model, exc)
                return False
        self._extractor = extractor
        self._apply_settings(new)
        logger.info("configuration reloaded from %s", new.path)
        notify.status("configuration reloaded")
        return True


# -- entry points ------------------------------------------------------------


def _install_signal_handlers(daemon: Daemon) -> Callable[[], None]:
    """Route SIGTERM/SIGINT/SIGHUP to the daemon's flags; return a function undoing it."""
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    daemon._wakeup = reader

    def on_stop(signum: int, _frame: object) -> None:
        daemon.request_stop()

    def on_reload(signum: int, _frame: object) -> None:
        daemon.request_reload()

    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, on_stop),
        signal.SIGINT: signal.signal(signal.SIGINT, on_stop),
        signal.SIGHUP: signal.signal(signal.SIGHUP, on_reload),
    }
    # The C-level handler writes the signal number here, waking select().
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)

    def restore() -> None:
        signal.set_wakeup_fd(previous_fd)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        daemon._wakeup = None
        reader.close()
        writer.close()

    return restore


def run(settings_path: Path | None, now_override: datetime | None = None, once: bool = False, **options: Any) -> int:
    """Run the daemon until SIGTERM/SIGINT (or one pass with `once`); return the exit code.

    :param settings_path: the config file (None: the default location).
    :param now_override: replay from this moment; the clock keeps moving from it.
    :param once: scan, send the digest if due, and return (for cron).
    :param options: passed on to `Daemon` (tests).
    :raises UserError: when the config, database or model cannot be loaded.
    """
    daemon = Daemon(settings_path, now_override, **options)
    restore = _install_signal_handlers(daemon)
    try:
        daemon.start(service=not once)
        try:
            code = daemon.run_once() if once else daemon.run_forever()
        finally:
            notify.stopping()
            logger.info("kept daemon stopping")
            daemon.close()
    finally:
        restore()
    return code


def main_run(args: argparse.Namespace) -> int:
    """``kept run``, called by the CLI.

    Reads from `args`: ``config_path`` (Path or None), ``now`` (ISO 8601
    string or None; ``KEPT_NOW`` is used when it is None) and ``once``
    (bool). Returns the exit code; a `UserError` propagates to the CLI.
    """
    value = getattr(args, "now", None) or os.environ.get("KEPT_NOW")
    now_override = parse_now(value) if value else None
    return run(getattr(args, "config_path", None), now_override, once=bool(getattr(args, "once", False)))
