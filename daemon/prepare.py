"""The pure steps of a scan on one batch of raw messages: parse each, and find the promises of sent mail.

`prepare_messages` is the work the scanner does on a batch when it scans
alone, and what its worker processes do during a backfill
(`kept.daemon.scan_pool`, `prepare_task`): only message bytes and settings
go in and only records come out, so it runs the same in either process.
A step that fails on one message is that message's `StepFailure`, never
the batch's.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone, tzinfo

from kept.extractors.base import CandidateFinder
from kept.extractors.message import parse_message
from kept.mailboxes.base import Folder
from kept.models import MailMessage, PromiseCandidate, RawMessage

__all__ = [
    "MAX_EXTRACT_CHARS", "MAX_PROMISE_TEXT_CHARS", "PoolTask", "PreparedMessage", "StepFailure", "extract_each",
    "extraction_groups", "prepare_messages", "prepare_task", "wants_promises", "written_by",
]

logger = logging.getLogger(__name__)

# Promises are looked for in the first this many characters of a sent
# message's fresh text: a 500,000-character body of sentences took the
# language model half a minute, and real promises sit near the top.
MAX_PROMISE_TEXT_CHARS = 20_000

# A batch's sent mail goes to the extractor in groups of at most this much
# text, with a `Scanner.heartbeat` between groups: 200 long sent messages
# full of candidate sentences are ten minutes of model time, longer than a
# systemd watchdog waits (100,000 characters of them took 15 s).
MAX_EXTRACT_CHARS = 100_000


def extraction_groups(
    sent: list[tuple[MailMessage, str]], limit: int = MAX_EXTRACT_CHARS
) -> list[list[tuple[MailMessage, str]]]:
    """`sent` (message, uid) pairs in order, in groups of at most `limit`
    characters of promise text (the part `MAX_PROMISE_TEXT_CHARS` lets the
    extractor see); a longer message is a group of its own."""
    groups: list[list[tuple[MailMessage, str]]] = []
    size = limit
    for pair in sent:
        length = min(len(pair[0].body_text), MAX_PROMISE_TEXT_CHARS)
        if size + length > limit:
            groups.append([])
            size = 0
        groups[-1].append(pair)
        size += length
    return groups


@dataclass(frozen=True, slots=True)
class StepFailure:
    """A scan step that raised on one message, as text: it may have happened in a worker process.

    :ivar kind: the exception's class name.
    :ivar text: its message.
    :ivar detail: the formatted traceback (logged at debug level).
    """

    kind: str
    text: str
    detail: str = ""

    @classmethod
    def of(cls, error: BaseException) -> StepFailure:
        """The failure `error` describes."""
        return cls(type(error).__name__, str(error), "".join(traceback.format_exception(error)))


@dataclass(frozen=True, slots=True)
class PreparedMessage:
    """What the pure steps made of one raw message (`prepare_messages`).

    :ivar message: the parsed message; None if parsing failed (`failure`).
    :ivar candidates: its promise candidates, if it was extracted.
    :ivar failure: why parsing, or else extraction, failed.
    """

    uid: str
    message: MailMessage | None
    candidates: list[PromiseCandidate] | None = None
    failure: StepFailure | None = None


def written_by(message: MailMessage, me: frozenset[str]) -> bool:
    """True unless `message` names an author who is not one of the addresses `me`."""
    sender = message.from_addr.email if message.from_addr else ""
    return not sender or sender in me


def wants_promises(message: MailMessage, me: frozenset[str]) -> bool:
    """True for mail whose promises are looked for: sent, written by the user, with text."""
    return message.role == "sent" and bool(message.body_text.strip()) and written_by(message, me)


def extract_each(
    extractor: CandidateFinder, items: Sequence[tuple[str, datetime | None]]
) -> list[list[PromiseCandidate] | StepFailure]:
    """The candidates of each (text, sent at) item, in one call; if that
    raises, item by item, so that only the item to blame is a `StepFailure`."""
    try:
        found = list(extractor.extract_many(items))
        if len(found) != len(items):
            raise ValueError(f"the extractor returned {len(found)} results for {len(items)} texts")
        return list(found)
    except Exception:  # noqa: BLE001 - find the message to blame, one at a time
        logger.debug("promise extraction failed on a batch; extracting its messages one by one", exc_info=True)
    results: list[list[PromiseCandidate] | StepFailure] = []
    for item in items:
        try:
            [candidates] = list(extractor.extract_many([item]))
            results.append(candidates)
        except Exception as error:  # noqa: BLE001 - one hostile message must not stop the batch
            results.append(StepFailure.of(error))
    return results


def prepare_messages(
    raws: Sequence[RawMessage], *, account: str, folder: Folder, max_bytes: int, now: datetime,
    me: frozenset[str], extractor: CandidateFinder | None, zone: tzinfo = timezone.utc,
) -> list[PreparedMessage]:
    """The pure steps of a scan, one `PreparedMessage` per raw message in order:
    each parsed (its date made sane against `now`) and, given an `extractor`,
    the promise candidates of the ones that `wants_promises`, their days
    ("tomorrow") read in the user's time zone `zone`.

    Only message bytes and settings go in, so a worker process can do it
    (`kept.daemon.scan_pool`); the scanner does the parsing itself when it
    scans alone, and then extracts only the messages it has not stored.
    """
    prepared: list[PreparedMessage] = []
    for raw in raws:
        try:
            message = parse_message(
                raw, account=account, role=folder.role, folder=folder.name, max_bytes=max_bytes, now=now
            )
        except Exception as error:  # noqa: BLE001 - one hostile message must not stop the batch
            prepared.append(PreparedMessage(raw.uid, None, failure=StepFailure.of(error)))
            continue
        prepared.append(PreparedMessage(raw.uid, message))
    if extractor is None:
        return prepared
    sent = [(item.message, str(n)) for n, item in enumerate(prepared) if item.message and wants_promises(item.message, me)]
    for group in extraction_groups(sent):
        items = [(m.body_text[:MAX_PROMISE_TEXT_CHARS], m.date.astimezone(zone)) for m, _n in group]
        for (_m, n), outcome in zip(group, extract_each(extractor, items), strict=True):
            if isinstance(outcome, StepFailure):
                prepared[int(n)] = replace(prepared[int(n)], failure=outcome)
            else:
                prepared[int(n)] = replace(prepared[int(n)], candidates=outcome)
    return prepared


#: One worker task: some messages of a batch, the batch's time and its folder.
PoolTask = tuple[tuple[RawMessage, ...], datetime, Folder]


def prepare_task(
    task: PoolTask, *, account: str, max_bytes: int, me: frozenset[str], extractor: CandidateFinder | None,
    zone: tzinfo,
) -> list[PreparedMessage]:
    """`prepare_messages` for one worker task (only sent mail meets the `extractor`: `wants_promises`)."""
    raws, now, folder = task
    return prepare_messages(
        raws, account=account, folder=folder, max_bytes=max_bytes, now=now, me=me, extractor=extractor, zone=zone
    )
