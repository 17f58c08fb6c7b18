"""One scanning pass: read new mail, thread it, find promises, store it all.

For each account and folder the pass asks the source for the messages added
since the stored cursor and handles them batch by batch::

    source batch -> parse_message -> (sent mail) PromiseExtractor
                 -> one store transaction: threads, message records,
                    promises, fulfilment, then the batch's cursor

The cursor is written in the same transaction as the batch's records and
only after them, so a killed scan re-reads at most one batch (or a few
seconds of them, `kept.daemon.commit_groups`) and message ids keep that free
of duplicates. One account failing never stops the others: its error is
recorded as the account's health and the pass moves on.

No single message stops a batch either. Each message goes through its steps
(``parse``, which also makes its date sane; ``extract``, the promises of
sent mail; ``thread``; ``store``, its record, promises and nudges) on its
own: the thread and store steps in a nested transaction that takes back only
that message's writes. A message a step fails on is skipped, recorded as a
`ScanProblem` (`record_scan_problems`, shown by ``kept status``) and logged
once; the batch and its cursor are stored without it. Only a failing store
(`StorageError`: damaged, locked, disk full) still fails the whole batch.

A backfill uses the cores: a folder's first scan from its first batch on if
that is full, any other pass once the folder has handed over a full batch of
mostly new messages, the rest of it is parsed and
extracted by worker processes (`kept.daemon.scan_pool`), a few messages per
task, while this process threads and stores the batches in order, in the
same transactions as alone (`kept.daemon.prepare` is the work both do). An
incremental scan never starts them. A worker that dies ends the pool: its
unfinished batches and the rest of the pass are done here, with one warning.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterator
from functools import partial
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from kept.daemon.commit_groups import CommitGroups
from kept.daemon.feedback import sentence_fingerprint
from kept.daemon.rebuild import apply_carried
from kept.daemon.replies import carry_out_pending_replies, take_digest_reply
from kept.errors import AuthenticationError, KeptError, SourceError, StorageError, StorageWriteError, UserError
from kept.extractors.asks import asking_sentences, last_day_around, last_day_asked, quoted_question, waits_on_answer
from kept.extractors.base import CandidateFinder
from kept.extractors.cleaning import normalize_subject, strip_control
from kept.extractors.fulfilment import find_fulfilment, recipient_tokens
from kept.extractors.introductions import find_introduction, introduction_id
from kept.extractors.leads import find_lead
from kept.extractors.people import first_name_from_address, given_name, own_organisations, written_on_behalf
from kept.extractors.replies import needs_reply
from kept.daemon.scan_pool import OrderedPool, PoolBroken, pooled_batches, worker_count
from kept.daemon.open_promises import OpenPromises
from kept.daemon.prepare import (
    MAX_PROMISE_TEXT_CHARS, PoolTask, PreparedMessage, StepFailure, extract_each, extraction_groups,
    prepare_messages, prepare_task, written_by,
)
from kept.daemon.threader import Threader
from kept.mailboxes.base import Batch, Cursor, Folder, MailSource
from kept.mailboxes.factory import source_for
from kept.models import Introduction, Lead, MailMessage, Promise, PromiseCandidate, RawMessage, ScanProblem
from kept.settings import Account, Settings
from kept.storage.base import Store, promise_revision, record_scan_problems
from kept.storage.meta import LAST_SCAN_KEY, account_health, health_key, history_cutoff, history_key, meta_strings

logger = logging.getLogger(__name__)

BATCH_SIZE = 200


#: The note a received message "from" the user carries (`Scanner._claimed_mine`).
CLAIMED_MINE = "From is one of your addresses, but the message is not in a sent folder: read as received"

# Messages per worker task: enough for the extractor to batch sentences
# (one message per call cost 18 to 50% more CPU on Enron's sent mail), few
# enough that the tasks handed out hold little memory.
POOL_TASK_MESSAGES = 8


def default_batch_size() -> int:
    """Messages per batch: `BATCH_SIZE`, or ``$KEPT_SCAN_BATCH`` if set.

    A smaller batch means less work lost when a scan is killed; the crash
    tests set it low so their kills land in the middle of a backfill.
    """
    value = os.environ.get("KEPT_SCAN_BATCH", "")
    return int(value) if value.isdigit() and int(value) > 0 else BATCH_SIZE


ProgressCallback = Callable[[str, Folder, int, int], None]
"""Called as progress(account, folder, done, total) while a folder is read."""


@dataclass(slots=True)
class AccountScan:
    """What one pass did for one account.

    :ivar account: the account's name.
    :ivar messages: messages stored for the first time.
    :ivar seen: messages fetched that were already stored.
    :ivar promises: new promises found.
    :ivar kept: promises marked kept by a later message.
    :ivar problems: messages that could only be read in part.
    :ivar skipped: messages left out because a step failed on them
        (recorded as `ScanProblem`).
    :ivar seconds: wall time of the pass.
    :ivar error: why the account could not be scanned, or None.
    :ivar folders: messages read from each folder, by folder name.

    Counts only what was saved: a batch whose transaction failed adds nothing.
    """

    account: str
    messages: int = 0
    seen: int = 0
    promises: int = 0
    kept: int = 0
    problems: int = 0
    skipped: int = 0
    seconds: float = 0.0
    error: str | None = None
    folders: dict[str, int] = field(default_factory=dict)

    def add(self, batch: AccountScan) -> None:
        """Add a saved batch's counts to the pass's."""
        for name in ("messages", "seen", "promises", "kept", "problems", "skipped"):
            setattr(self, name, getattr(self, name) + getattr(batch, name))
        for folder, count in batch.folders.items():
            self.folders[folder] = self.folders.get(folder, 0) + count


@dataclass(slots=True)
class _FolderPass:
    """How far one pass over a folder got: for progress and the pool's rule.

    :ivar total: messages pending when it started (0: not counted).
    :ivar first: the folder had no cursor: its first scan (or a rebuild's).
    :ivar done: messages read.
    :ivar new: messages read that were not stored before.
    """

    total: int
    first: bool
    done: int = 0
    new: int = 0


def promise_id(account: str, message_id: str, sentence: str) -> str:
    """Stable id of a promise: rescanning the same mail gives the same id."""
    digest = hashlib.sha1(f"{account}\0{message_id}\0{sentence}".encode("utf-8", "replace"))
    return digest.hexdigest()[:10]


def content_promise_id(message: MailMessage, sentence: str) -> str:
    """Id of a promise from what was written, not which copy of the message carried it.

    Sender, recipients, normalized subject and the whitespace-collapsed,
    lower-cased sentence: every copy of one sent message (Enron's archive
    holds the same message in "sent", "_sent_mail" and "sent_items" under
    different Message-IDs) gives the same id, and so does a rescan.
    Whether two messages with the same id are copies is decided by their
    dates (`is_copy_of`). Promises stored before this id existed keep
    their old `promise_id`; only newly stored promises get this one.
    """
    sender = message.from_addr.email if message.from_addr is not None else ""
    recipients = ",".join(sorted({a.email.lower() for a in message.recipients if a.email}))
    text = " ".join(sentence.lower().split())
    key = f"{message.account}\0{sender.lower()}\0{recipients}\0{normalize_subject(message.subject)}\0{text}"
    return hashlib.sha1(key.encode("utf-8", "replace")).hexdigest()[:10]


#: Copies of one message sent within this long of each other count once.
COPY_WINDOW = timedelta(minutes=15)
#: Enron's copies also differ by whole hours (a time zone lost in one
#: folder's conversion: 10, 11 or 12 hours, to the second); up to this many.
COPY_ZONE_HOURS = 14


def is_copy_of(first_sent: datetime, sent: datetime) -> bool:
    """True if a message sent at `sent` with the same content as one sent at `first_sent` is a copy of it."""
    gap = abs(sent - first_sent)
    if gap <= COPY_WINDOW:
        return True
    seconds = gap.total_seconds()
    return seconds <= COPY_ZONE_HOURS * 3600 and seconds % 3600 == 0


class Scanner:
    """Runs scanning passes over the configured accounts.

    :param settings: the validated configuration.
    :param store: where records go.
    :param extractor: finds promises; created lazily by `extractor_factory`
        the first time sent mail needs it (loading the model takes seconds).
    :param source_factory: builds a source for an account (tests pass twins).
    :param now: the clock, so old mailboxes can be replayed.
    :param workers: worker processes for a backfill (1: none); by default
        from ``[scan] workers`` and the usable cores (`worker_count`).
    :param pool_after: a folder's messages read in one pass (or in its
        first batch, on its first scan) before the rest of it goes to the
        workers (default: one batch; `_wants_pool`).
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        extractor_factory: Callable[[], CandidateFinder],
        source_factory: Callable[[Account], MailSource] = source_for,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        progress: ProgressCallback | None = None,
        batch_size: int | None = None,
        workers: int | None = None,
        pool_after: int | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self._extractor_factory = extractor_factory
        self._extractor: CandidateFinder | None = None
        self.source_factory = source_factory
        self.now = now
        self.progress = progress
        self.batch_size = batch_size or default_batch_size()
        # Worker processes for a backfill (1: none); see `_scan_rest_in_pool`.
        self.workers = workers if workers is not None else worker_count(settings.scan.workers)
        # See `_wants_pool`: one full batch by default.
        self.pool_after = pool_after if pool_after is not None else self.batch_size
        # Set when a worker died: the rest of this scanner's passes stay in one process.
        self.pool_broken = False
        # The account pass's workers (`_pool_for`), whether they hold the
        # extractor, and the commit group of the folder they work for.
        self._pool: OrderedPool[PoolTask, list[PreparedMessage]] | None = None
        self._pool_extracts = False
        self._pool_groups: CommitGroups[AccountScan] | None = None
        self._folders: list[Folder] = []  # of the account being scanned
        self._model_failed = False  # in its pass, for a pool that wanted it for a later folder
        self.me = frozenset(settings.addresses)
        self.organisations = own_organisations(settings.addresses)
        self._my_first_names = frozenset(
            name.lower() for name in (given_name(settings.name), *map(first_name_from_address, settings.addresses)) if name
        )
        self._assisted_accounts: set[str] = set()
        self.tz = ZoneInfo(settings.timezone)
        self.threader = Threader(store, settings.addresses, settings.threads)
        self.stop_requested: Callable[[], bool] = lambda: False
        # Called after every message read, stored or handed to the extractor
        # and between batches: the daemon feeds its watchdog here, because
        # one batch of large or hostile mail can take minutes.
        self.heartbeat: Callable[[], None] = lambda: None
        # Called with every newly stored message, body included, inside the
        # batch's transaction (after a digest reply in it was carried out).
        self.on_new_message: Callable[[MailMessage], None] | None = None
        # account -> open promises, for the pass under way (see _open_promises).
        self._open_index: dict[str, OpenPromises] = {}
        # Senders of sent-folder mail that are not the user, each reported once.
        self._foreign_senders: set[str] = set()
        # account -> history cutoff decided on its first scan, until written.
        self._history_due: dict[str, datetime] = {}
        # Accounts whose received mail "from" the user was logged (`_claimed_mine`).
        self._claimed_accounts: set[str] = set()

    @property
    def extractor(self) -> CandidateFinder:
        """The promise extractor, loaded on first use."""
        if self._extractor is None:
            self._extractor = self._extractor_factory()
        return self._extractor

    def scan_all(self, only: str | None = None) -> list[AccountScan]:
        """One pass over every account (or only the named one)."""
        results = []
        for account in self.settings.accounts:
            if only is not None and account.name != only:
                continue
            if self.stop_requested():
                break
            results.append(self.scan_account(account, record=False))
        every_account = only is None and len(results) == len(self.settings.accounts)
        self.carry_out_replies(complete=every_account and not any(r.error for r in results))
        # Health and the scan's time in one write: a write per account made
        # 10,000 empty accounts take 110 s, nearly all of it rewriting the file.
        self.record_results(results, last_scan=True)
        return results

    def carry_out_replies(self, complete: bool = False) -> None:
        """Carry out the digest replies this pass read, now that what they name is stored.

        First the corrections ``kept rebuild`` carried over, if any wait
        (`apply_carried`; `complete`: every account was read without error).
        A pass that was asked to stop leaves both queued for the next one.
        """
        if not self.stop_requested():
            apply_carried(self.store, complete=complete)
            carry_out_pending_replies(self.store, self.settings, self.now())

    def scan_account(self, account: Account, *, record: bool = True) -> AccountScan:
        """One pass over one account; errors end up in the result and, with `record`, its health record.

        Without `record` the caller hands the result to `record_results`.
        """
        result = AccountScan(account.name)
        started = time.monotonic()
        self._open_index.pop(account.name, None)
        try:
            with self.source_factory(account) as source:
                folders = list(source.folders())
                self._mark_history(account, folders)
                self._folders, self._model_failed = folders, False
                for folder in folders:
                    if self.stop_requested():
                        break
                    self._scan_folder(account, source, folder, result)
        except UserError as exc:
            result.error = str(exc).splitlines()[0]
            if isinstance(exc, AuthenticationError):
                result.error = str(exc)
        except (SourceError, KeptError, OSError) as exc:
            result.error = str(exc) or exc.__class__.__name__
        finally:
            self._close_pool()
        result.seconds = time.monotonic() - started
        if record:
            self.record_results([result])
        if result.error:
            logger.warning("account %s: scan failed: %s", account.name, result.error)
        else:
            logger.info(
                "account %s: %d new messages, %d new promises, %d kept, %.1f s",
                account.name, result.messages, result.promises, result.kept, result.seconds,
            )
        return result

    def record_results(self, results: list[AccountScan], *, last_scan: bool = False) -> None:
        """Write the accounts' health (and, with `last_scan`, the time of the scan) in one transaction.

        A write that fails (full disk, read-only folder) becomes each
        account's error; the caller retries the accounts later.
        """
        try:
            with self.store.transaction():
                for result in results:
                    self._record_health(result.account, result)
                if last_scan:
                    self.store.set_meta(LAST_SCAN_KEY, self.now().isoformat())
        except StorageWriteError as exc:
            reason = str(exc).splitlines()[0]
            logger.error("cannot record the accounts' health and the time of the scan: %s", reason)
            for result in results:
                result.error = result.error or reason
            return
        for result in results:
            self._history_due.pop(result.account, None)

    def _mark_history(self, account: Account, folders: list[Folder]) -> None:
        """On an account's first scan, decide where its history ends.

        A first scan reads years of mail; what is older than ``[digest]
        lookback_days`` then is history (`history_cutoff`), not news for the
        digest. Later scans and later backfills keep the first cutoff. A
        database from before this rule has cursors but no cutoff, and keeps
        showing everything as it did. The cutoff is written with the first
        batch (`_write_history`), or with the account's health. A cutoff
        that does not read as a time is absent here as everywhere
        (`kept.storage.meta.history_cutoff`).
        """
        with self.store.transaction():
            if history_cutoff(self.store, account.name) is not None:
                return
            if any(self.store.get_cursor(account.name, folder.name) for folder in folders):
                return
            if account.name not in self._history_due:
                self._history_due[account.name] = self.now() - timedelta(days=self.settings.digest.lookback_days)

    def _write_history(self, account: str) -> None:
        """Write the account's history cutoff if `_mark_history` decided one (inside the caller's transaction)."""
        cutoff = self._history_due.get(account)
        if cutoff is not None and history_cutoff(self.store, account) is None:
            self.store.set_meta(history_key(account), cutoff.isoformat())

    def _record_health(self, account: str, result: AccountScan) -> None:
        key = health_key(account)
        now = self.now().isoformat()
        with self.store.transaction():
            self._write_history(account)
            health: dict[str, Any] = account_health(self.store, account)
            if result.error:
                health.update(ok=False, error=result.error, last_attempt=now)
                health.setdefault("failing_since", now)
                if health.get("failing_since") is None:
                    health["failing_since"] = now
            else:
                health.update(ok=True, error=None, failing_since=None, last_ok=now, last_attempt=now)
            self.store.set_meta(key, health)

    def _scan_folder(
        self, account: Account, source: MailSource, folder: Folder, result: AccountScan
    ) -> None:
        cursor = self.store.get_cursor(account.name, folder.name)
        state = _FolderPass(source.pending(folder, cursor) if self.progress else 0, first=cursor is None)
        batches = iter(source.fetch(folder, cursor, self.batch_size))
        for batch in batches:
            # This batch and the rest go to the pool (the same iterator; it
            # goes on here if the pool cannot start).
            if self._wants_pool(state, batch) and self._scan_rest_in_pool(
                account, folder, itertools.chain([batch], batches), result, state
            ):
                return
            self._note_reset(account, folder, batch)
            # A commit each: a commit group would hold the file lock while this process parses.
            result.add(stored := self._store_batch(account, folder, batch.messages, batch.cursor))
            if self._batch_stored(account, folder, batch, stored, result, state):
                return

    def _note_reset(self, account: Account, folder: Folder, batch: Batch) -> None:
        if batch.reset:
            logger.info("account %s: folder %s changed identity (UIDVALIDITY); reading it again",
                        account.name, folder.name)

    def _batch_stored(
        self, account: Account, folder: Folder, batch: Batch, stored: AccountScan, result: AccountScan,
        state: _FolderPass,
    ) -> bool:
        """Count a stored batch and report progress; True if the pass is to stop now."""
        state.done += len(batch.messages)
        state.new += len(batch.messages) - stored.seen
        if self.progress:
            self.progress(account.name, folder, state.done, max(state.total, state.done))
        return self.stop_requested()

    def _wants_pool(self, state: _FolderPass, batch: Batch) -> bool:
        """True when `batch` and the rest of its folder are a backfill worth the worker processes.

        A folder's first scan is one from its first full batch on (more are
        coming); any other pass once `pool_after` messages were read in it,
        at least half of them new. So an incremental scan stays in one
        process, and a folder read again (its UIDVALIDITY changed) is not
        extracted again in vain: workers extract before it is known what is
        stored.
        """
        if self.workers < 2 or self.pool_broken:
            return False
        if state.done == 0:
            return state.first and len(batch.messages) >= self.pool_after
        return state.done >= self.pool_after and 2 * state.new >= state.done

    def _scan_rest_in_pool(
        self, account: Account, folder: Folder, batches: Iterator[Batch], result: AccountScan, state: _FolderPass
    ) -> bool:
        """Store the rest of `batches` with worker processes parsing and extracting; False if none could start.

        The pool is the account pass's (`_pool_for`). This process only threads
        and stores, so its batches share commits (`kept.daemon.commit_groups`);
        while it waits on the workers, its commit group lets the lock go.
        """
        pool = self._pool_for(account, folder)
        if pool is None:
            return False
        logger.info(
            "account %s: %s: parsing and extracting with %d worker processes after %d messages",
            account.name, folder.name, self.workers, state.done,
        )
        def tasks_of(batch: Batch) -> list[PoolTask]:
            self._note_reset(account, folder, batch)
            now, raws = self.now(), batch.messages
            return [(raws[n : n + POOL_TASK_MESSAGES], now, folder) for n in range(0, len(raws), POOL_TASK_MESSAGES)]

        groups = self._pool_groups = CommitGroups(self.store, result.add)
        try:
            with groups:
                for batch, prepared in pooled_batches(pool, batches, tasks_of, lambda e: self._pool_failed(account, e)):
                    if prepared is None:  # the pool broke: parsed here, a commit each as in one process
                        groups.commit()
                        result.add(stored := self._store_batch(account, folder, batch.messages, batch.cursor))
                    else:
                        with groups.batch() as keep:
                            keep(stored := self._store_batch(account, folder, batch.messages, batch.cursor, prepared))
                    if self._batch_stored(account, folder, batch, stored, result, state):
                        break
        finally:
            self._pool_groups = None
        return True

    def _pool_for(self, account: Account, folder: Folder) -> OrderedPool[PoolTask, list[PreparedMessage]] | None:
        """The workers of this account pass for `folder`, forked on first need; None if they could not start.

        Forked once per account pass and kept for its other folders, and so
        before the first pooled folder's records fill this process: workers
        forked later inherit every record stored by then (at 200,000
        messages the sent folder's workers, forked after the inbox, held
        170-203 MB each by PSS against 48-66 MB for the inbox's). The extractor is
        loaded before the fork, so the workers share it, when this folder is
        sent mail or a sent folder is still to be read for the first time; a
        model that will not load is the account's error, as when scanning alone.
        """
        extracts = folder.role == "sent" or not self._model_failed and any(
            f.role == "sent" and self.store.get_cursor(account.name, f.name) is None for f in self._folders
        )
        if self._pool is not None and (self._pool_extracts or not extracts):
            return self._pool
        self._close_pool()
        extractor = None
        try:
            extractor = self.extractor if extracts else None
        except Exception:  # noqa: BLE001 - whatever it is, the sent folder meets it itself, as it would alone
            if folder.role == "sent":
                raise
            extracts, self._model_failed = False, True  # tried once a pass: this folder's mail is stored first
        work = partial(
            prepare_task, account=account.name, max_bytes=self.settings.max_message_bytes, me=self.me,
            extractor=extractor, zone=self.tz,
        )
        try:
            self._pool = OrderedPool(self.workers, work, heartbeat=self._pool_heartbeat)
        except PoolBroken as error:
            self._pool_failed(account, error)
            return None
        self._pool_extracts = extracts
        return self._pool

    def _pool_heartbeat(self) -> None:
        self.heartbeat()
        if self._pool_groups is not None:  # a commit group does not hold the lock through a long wait
            self._pool_groups.idle()

    def _close_pool(self) -> None:
        pool, self._pool, self._pool_groups = self._pool, None, None
        if pool is not None:
            pool.close()

    def _pool_failed(self, account: Account, error: Exception) -> None:
        self.pool_broken = True
        logger.warning(
            "account %s: the scan's worker processes failed (%s); scanning the rest in one process",
            account.name, error,
        )

    def _store_batch(
        self, account: Account, folder: Folder, raws: tuple[RawMessage, ...], cursor: Cursor,
        prepared: list[PreparedMessage] | None = None,
    ) -> AccountScan:
        """Store one batch and its cursor; what it added (the pass counts it once its commit group is saved).

        `prepared` is what the workers made of `raws` (`prepare_messages`);
        without it the messages are parsed here, and extracted once it is
        known which of them are new.
        """
        batch = AccountScan(account.name, folders={folder.name: len(raws)})
        failed: list[ScanProblem] = []
        if prepared is None:
            now = self.now()
            prepared = []
            for raw in raws:
                prepared += prepare_messages(
                    (raw,), account=account.name, folder=folder, max_bytes=self.settings.max_message_bytes,
                    now=now, me=self.me, extractor=None,
                )
                self.heartbeat()
        parsed: list[tuple[MailMessage, PreparedMessage]] = []
        for item in prepared:
            message = item.message
            if message is None:
                assert item.failure is not None
                failed.append(self._skip(account.name, folder, item.uid, "", "parse", item.failure))
                continue
            if message.problems:
                batch.problems += 1
            if message.role == "received" and message.from_addr is not None and message.from_addr.email in self.me:
                message = self._claimed_mine(message)
            parsed.append((message, item))
        # Oldest first, so a promise is stored before the message that keeps it.
        parsed.sort(key=lambda pair: pair[0].date)
        fresh: list[tuple[MailMessage, PreparedMessage]] = []
        seen_ids: set[str] = set()
        # One transaction for the whole batch: each has_message alone would
        # take and release the database's file lock.
        with self.store.transaction():
            for message, item in parsed:
                if message.message_id in seen_ids or self.store.has_message(account.name, message.message_id):
                    batch.seen += 1
                    continue
                seen_ids.add(message.message_id)
                fresh.append((message, item))
        found: dict[str, list[PromiseCandidate]] = {}
        unextracted: list[tuple[MailMessage, str]] = []
        for message, item in fresh:
            if not (message.role == "sent" and message.body_text.strip() and self._written_by_me(message)):
                continue
            if item.failure is not None:
                failed.append(self._skip(account.name, folder, item.uid, message.message_id, "extract", item.failure))
            elif item.candidates is not None:
                found[message.message_id] = item.candidates
            else:
                unextracted.append((message, item.uid))
        found.update(self._find_promises(folder, unextracted, failed))
        skipped = {(p.message_id, p.uid) for p in failed}
        with self.store.transaction():
            for message, item in fresh:
                self.heartbeat()
                uid = item.uid
                if (message.message_id, uid) in skipped:
                    continue
                step = "thread"
                try:
                    # A nested transaction: a failure takes back this message's writes only.
                    with self.store.transaction():
                        message = self._thread(message)
                        step = "store"
                        added = self._store_message(message, found.get(message.message_id, []))
                    batch.messages += added.messages
                    batch.kept += added.kept
                    batch.promises += added.promises
                except StorageError:
                    raise  # the database itself failed: no message is to blame
                except Exception as error:  # noqa: BLE001 - one hostile message must not stop the batch
                    # The pass's index of open promises may hold what was just taken back.
                    self._open_index.pop(account.name, None)
                    failed.append(self._skip(account.name, folder, uid, message.message_id, step, error))
            record_scan_problems(self.store, failed)
            self._write_history(account.name)
            self.store.set_cursor(account.name, folder.name, cursor)
        batch.skipped = len(failed)
        return batch

    def _find_promises(
        self, folder: Folder, sent: list[tuple[MailMessage, str]], failed: list[ScanProblem]
    ) -> dict[str, list[PromiseCandidate]]:
        """Promise candidates of each message in `sent`, by Message-ID; a message the extractor fails on goes to `failed`."""
        if not sent:
            return {}
        extractor = self.extractor  # a model that will not load is the account's error, not a message's
        found: dict[str, list[PromiseCandidate]] = {}
        for group in extraction_groups(sent):
            self.heartbeat()
            found.update(self._extract_group(extractor, folder, group, failed))
        return found

    def _extract_group(
        self, extractor: CandidateFinder, folder: Folder, sent: list[tuple[MailMessage, str]], failed: list[ScanProblem]
    ) -> dict[str, list[PromiseCandidate]]:
        # The user wrote "tomorrow" on their own calendar, not UTC's: mail
        # sent at 18:35 in Houston is 01:35 the next day in UTC.
        items = [(m.body_text[:MAX_PROMISE_TEXT_CHARS], m.date.astimezone(self.tz)) for m, _uid in sent]
        found: dict[str, list[PromiseCandidate]] = {}
        for (message, uid), outcome in zip(sent, extract_each(extractor, items), strict=True):
            if isinstance(outcome, StepFailure):
                failed.append(self._skip(message.account, folder, uid, message.message_id, "extract", outcome))
            else:
                found[message.message_id] = outcome
        return found

    def _skip(
        self, account: str, folder: Folder, uid: str, message_id: str, step: str, error: Exception | StepFailure
    ) -> ScanProblem:
        """The record of a message skipped because `step` raised `error`; logged once, here."""
        failure = error if isinstance(error, StepFailure) else StepFailure.of(error)
        text = " ".join(strip_control(failure.text).split())
        reason = f"{failure.kind}: {text}" if text else failure.kind
        problem = ScanProblem(
            account=account, folder=folder.name, uid=uid, message_id=message_id,
            step=step, reason=reason[:300], at=self.now(),
        )
        logger.warning(
            "account %s: skipped message %s in %s: %s failed (%s); see `kept status`%s",
            account, strip_control(message_id or uid), folder.name, step, problem.reason,
            "\n" + failure.detail.rstrip() if failure.detail and logger.isEnabledFor(logging.DEBUG) else "",
        )
        return problem

    def _thread(self, message: MailMessage) -> MailMessage:
        """`message` put into its thread, with the thread's key."""
        # The text is read for questions once; the rest is derived from them.
        asking = asking_sentences(message.body_text)
        if message.role == "sent":
            # The user's own mail waits on an answer only when it asks for one.
            # A question of the user's about an event ends with the event even
            # when the day is named in another sentence; received questions
            # keep the stricter reading (waiting on you is the costlier miss).
            until = last_day_around(message.body_text, asking, message.date.astimezone(self.tz), message.subject)
            recipients = [a.email for a in (*message.to, *message.cc) if a.email and a.email not in self.me]
            asks = waits_on_answer(asking, recipients, self.organisations)
            thread, _changed = self.threader.add(message, asks=asks, asks_until=until)
            question = quoted_question(asking, for_answer=True)
        else:
            thread, _changed = self.threader.add(
                message, asks=bool(asking), needs_reply=needs_reply(message.body_text, bool(asking)),
                asks_until=last_day_asked(asking, message.date.astimezone(self.tz)),
            )
            question = quoted_question(asking)
        # The question is kept with the message record (the message file),
        # not the thread (the main file, written at every batch).
        return replace(message, thread_key=thread.key, question=question)

    def _store_message(self, message: MailMessage, candidates: list[PromiseCandidate]) -> AccountScan:
        """Store a threaded message with what it brings (nudges, kept promises, new promises); what it added."""
        added = AccountScan(message.account)
        if not self.store.put_message(message):
            return added
        added.messages = 1
        # Bodies are never stored: a reply to the digest is read now, by
        # every command that scans, and carried out at the end of the pass.
        take_digest_reply(self.store, message, self.settings, self.now())
        if self.on_new_message is not None:
            self.on_new_message(message)
        self._record_nudges(message)
        if message.role == "sent":
            added.kept = self._close_kept_promises(message)
            added.promises = self._store_promises(message, candidates)
        return added

    def _claimed_mine(self, message: MailMessage) -> MailMessage:
        """Note on a received message "from" the user that it is read as received mail.

        Only mail in a sent folder is the user's (`kept.extractors.waiting`):
        anyone can write the user's address in From, and such a message in
        the inbox must not close what waits on the user. The note stays on
        the message record; the log says it once per account.
        """
        if message.account not in self._claimed_accounts:
            self._claimed_accounts.add(message.account)
            logger.info(
                "account %s: a message in %s is from your own address but not in a sent folder "
                "(a copy to yourself, or a forgery): it is read as received mail and answers nothing",
                message.account, message.folder,
            )
        return replace(message, problems=(*message.problems, CLAIMED_MINE))

    def _written_by_me(self, message: MailMessage) -> bool:
        """True unless a sent-folder message names an author who is not the user.

        The author is someone else when the From address is not one of the
        user's, or when the text speaks of the user by first name in the
        third person (an assistant writing from the user's address).

        An assistant's mail filed in the user's Sent folder (Enron's beck-s
        holds dozens) carries the assistant's promises, not the user's. An
        address the user forgot to configure looks the same, so it is logged
        once with the fix.
        """
        if written_by(message, self.me):
            if not written_on_behalf(message.body_text, self._my_first_names):
                return True
            if message.account not in self._assisted_accounts:
                self._assisted_accounts.add(message.account)
                logger.info(
                    "account %s: sent mail that speaks of you by first name (\"... asked me to\") "
                    "was written on your behalf: its promises are not taken as yours",
                    message.account,
                )
            return False
        sender = message.from_addr.email if message.from_addr else ""
        if sender not in self._foreign_senders:
            self._foreign_senders.add(sender)
            logger.warning(
                "account %s: sent mail from %s, which is not one of your [kept] addresses: "
                "promises in it are not taken as yours (add the address if it is yours)",
                message.account, sender,
            )
        return False

    def _record_nudges(self, message: MailMessage) -> None:
        """Store an introduction the user made, or a lead someone gave them, found in `message`.

        Bodies are never stored, so this is the only moment to read them.
        Records are kept even while ``[nudges]`` is switched off, so turning
        it on later needs no rescan.
        """
        record_id = introduction_id(message.account, message.message_id)
        if message.role == "sent":
            intro = find_introduction(message, self.me)
            if intro is not None and self.store.get_introduction(record_id) is None:
                self.store.put_introduction(Introduction(
                    id=record_id, account=message.account, message_id=message.message_id,
                    thread_key=message.thread_key, made_at=message.date, people=intro.people,
                    names=intro.names, sentence=intro.sentence, subject=message.subject,
                ))
            return
        lead = find_lead(message, self.me)
        if lead is not None and self.store.get_lead(record_id) is None:
            sender = message.from_addr
            assert sender is not None  # find_lead needs a sender
            self.store.put_lead(Lead(
                id=record_id, account=message.account, message_id=message.message_id,
                thread_key=message.thread_key, received_at=message.date, from_email=sender.email,
                from_name=sender.name.strip() or sender.email, about=lead.about,
                sentence=lead.sentence, subject=message.subject,
            ))

    def _store_promises(self, message: MailMessage, candidates: list[PromiseCandidate]) -> int:
        dismissed = set(meta_strings(self.store, "dismissed_sentences"))
        horizons = self.settings.promises.default_horizon_days
        made_local = message.date.astimezone(self.tz).date()
        # A promise is made to the To recipients; people on Cc (an assistant,
        # a manager kept informed) only see it made. Cc counts only when To
        # holds nobody but the user.
        counterparties = tuple(
            dict.fromkeys(a.email for a in message.to if a.email and a.email not in self.me)
        ) or tuple(dict.fromkeys(a.email for a in message.cc if a.email and a.email not in self.me))
        added = 0
        for candidate in candidates:
            if candidate.confidence < self.settings.promises.min_confidence:
                continue
            if sentence_fingerprint(candidate.sentence) in dismissed:
                continue
            due: date | None = candidate.due
            due_is_default = due is None
            if due is None:
                due = made_local + timedelta(days=horizons.get(candidate.kind, 7))
            record_id = self._promise_record_id(message, candidate.sentence)
            if record_id is None:
                continue
            promise = Promise(
                id=record_id,
                account=message.account,
                message_id=message.message_id,
                thread_key=message.thread_key,
                sentence=candidate.sentence,
                action=candidate.action,
                kind=candidate.kind,
                counterparties=counterparties,
                made_at=message.date,
                due=due,
                due_is_default=due_is_default,
                confidence=candidate.confidence,
                rule_id=candidate.rule_id,
                named_person=candidate.named_person,
                subject=message.subject,
            )
            if self.store.get_promise(promise.id) is None:
                self._save_promise(promise)
                added += 1
        return added

    def _promise_record_id(self, message: MailMessage, sentence: str) -> str | None:
        """The id to store a promise of `message` under, or None if a copy of the message holds it already."""
        record_id = content_promise_id(message, sentence)
        earlier = self.store.get_promise(record_id)
        if earlier is None or earlier.message_id == message.message_id:
            return record_id
        if is_copy_of(earlier.made_at, message.date):
            logger.debug("message %s: promise already stored from its copy %s", message.message_id, earlier.message_id)
            return None
        # The same words to the same people again, later: a promise of its own.
        return promise_id(message.account, message.message_id, sentence)

    def _close_kept_promises(self, message: MailMessage) -> int:
        """Mark open promises that `message` (a sent message) delivers as kept."""
        recipients = {a.email for a in message.recipients}
        closed = 0
        index = self._open_promises(message.account)
        # Named third parties ("I'll forward it to Barry") are found by the
        # name words of the To recipients.
        names = recipient_tokens(message.to)
        for promise in index.related(message.thread_key, recipients, names):
            if promise.message_id == message.message_id or message.date <= promise.made_at:
                continue
            evidence = find_fulfilment(promise, message, self.me)
            if not evidence:
                continue
            # What is stored is changed, not the index's copy of it.
            current = self.store.get_promise(promise.id)
            index.discard(promise)
            if current is None or not current.is_open:
                continue
            # A snoozed promise kept is snoozed no more: its day goes, as `kept rebuild` finds it.
            self._save_promise(replace(current, status="kept", evidence=evidence, closed_at=message.date,
                                       snoozed_until=None))
            closed += 1
        return closed

    def _open_promises(self, account: str) -> OpenPromises:
        """The account's open promises as the store holds them now (call inside the transaction that uses them).

        The index is kept for the pass, and read again from the store when
        the promise revision shows that someone else changed a promise since
        the scanner last looked: another scan storing the promise a later
        message of this one keeps (two scans of one database left such
        promises open for good), the user closing one, a digest reply.
        """
        revision = promise_revision(self.store)
        index = self._open_index.get(account)
        if index is None or index.revision != revision:
            index = OpenPromises((p for p in self.store.promises(account) if p.is_open), revision)
            self._open_index[account] = index
        return index

    def _save_promise(self, promise: Promise) -> None:
        """Store a promise the scanner found or closed, keeping its index of open promises current."""
        index = self._open_promises(promise.account)
        self.store.put_promise(promise)
        if promise.is_open:
            index.add(promise)
        else:
            index.discard(promise)
        # Read back in the same transaction: the scanner's own change is the only one since.
        index.revision = promise_revision(self.store)
