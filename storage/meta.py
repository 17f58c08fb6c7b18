"""Typed reads of the store's meta values.

Meta values are plain JSON in the database, and a hand-edited or damaged
file can hold anything there (``muted_contacts = 5``, ``health:work =
"x"``). Every read of a meta value goes through one of these functions: a
value of the wrong shape is treated as absent and logged once per key, and
the next change writes a good value over it. A wrong meta value never stops
kept: the messages, promises and threads are elsewhere and intact, and what
is lost (a list of muted people, an account's last health) is what the
user's own edit already broke.

Parts of a value are checked as well: a list of addresses keeps its strings
and drops the rest; a table of records keeps the records that are tables.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timezone
from typing import Any, Protocol

logger = logging.getLogger(__name__)

#: Keys already reported in this process: one warning each, not one per read.
_reported: set[str] = set()


def _report(key: str, value: Any, expected: str) -> None:
    if key in _reported:
        return
    _reported.add(key)
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:59] + "…"
    logger.warning(
        "the database's meta value %s is not %s (it is %s); kept treats it as absent and writes a new one "
        "at the next change", key, expected, shown,
    )


class MetaReader(Protocol):
    """What these readers need of a store: its meta values.

    Every `kept.storage.base.Store` is one. Declared here rather than
    importing `Store`, because `kept.storage.base` reads its own meta
    through this module and imports it.
    """

    def get_meta(self, key: str, default: Any = None) -> Any:
        """The meta value stored under `key`, or `default`."""
        ...


def meta_text(store: MetaReader, key: str) -> str | None:
    """The string in meta `key`, or None."""
    value = store.get_meta(key)
    if value is None or isinstance(value, str):
        return value
    _report(key, value, "a string")
    return None


def meta_moment(store: MetaReader, key: str) -> datetime | None:
    """The ISO date-time in meta `key` (naive ones are UTC), or None."""
    text = meta_text(store, key)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _report(key, text, "a date and time")
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def meta_day(store: MetaReader, key: str) -> date | None:
    """The ISO date in meta `key`, or None."""
    text = meta_text(store, key)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        _report(key, text, "a date")
        return None


def meta_strings(store: MetaReader, key: str) -> list[str]:
    """The list of strings in meta `key` (other entries left out), or []."""
    value = store.get_meta(key)
    if value is None:
        return []
    if not isinstance(value, list):
        _report(key, value, "a list of strings")
        return []
    strings = [item for item in value if isinstance(item, str)]
    if len(strings) != len(value):
        _report(key, value, "a list of strings only")
    return strings


def meta_table(store: MetaReader, key: str, fields: dict[str, type | tuple[type, ...]] | None = None) -> dict[str, Any]:
    """The table in meta `key`, or {}.

    With `fields`, each named field of the wrong type is left out (a missing
    one is fine); ``bool`` must be named to be accepted, as JSON's true is
    not a number here.
    """
    value = store.get_meta(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        _report(key, value, "a table")
        return {}
    table = dict(value)
    for name, kind in (fields or {}).items():
        if name in table and not _is_a(table[name], kind):
            _report(key, value, f"a table whose {name!r} is {_kind_name(kind)}")
            del table[name]
    return table


def meta_records(store: MetaReader, key: str) -> dict[str, dict[str, Any]]:
    """The table of tables in meta `key` (entries that are not tables left out), or {}."""
    table = meta_table(store, key)
    records = {name: dict(entry) for name, entry in table.items() if isinstance(entry, dict)}
    if len(records) != len(table):
        _report(key, table, "a table of tables")
    return records


def _is_a(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("null" if k is type(None) else k.__name__ for k in kinds)


#: The fields of meta ``health:ACCOUNT`` (written by the scanner) and their types.
HEALTH_FIELDS: dict[str, type | tuple[type, ...]] = {
    "ok": bool, "error": (str, type(None)), "failing_since": (str, type(None)),
    "last_ok": (str, type(None)), "last_attempt": (str, type(None)),
}


def health_key(account: str) -> str:
    """Meta key of the account's last scan result."""
    return f"health:{account}"


#: Meta key of the time of the last scan pass (an ISO date and time).
LAST_SCAN_KEY = "last_scan"


def is_pass_meta(key: str) -> bool:
    """True for the meta values every scan pass writes: the time of the last scan and each account's health.

    A pass that finds nothing new changes only these, so the TinyDB store
    keeps them in a small file of their own (`kept.storage.files.pass_path`)
    instead of rewriting the main file for them (77 MB at 200,000 messages,
    four times an hour).
    """
    return key == LAST_SCAN_KEY or key.startswith("health:")


def account_health(store: MetaReader, account: str) -> dict[str, Any]:
    """How the account's last scans went (`HEALTH_FIELDS`), or {} if never scanned."""
    return meta_table(store, health_key(account), HEALTH_FIELDS)


def history_key(account: str) -> str:
    """Store meta key of the account's history cutoff (see `history_cutoff`)."""
    return f"history_before:{account}"


def history_cutoff(store: MetaReader, account: str) -> datetime | None:
    """Mail of `account` dated before this is history, not digest news; None: no history.

    The one reader of the cutoff, for the scanner that writes it and the
    digest and lists that use it. A value that is not a date and time (a
    hand edit, damage) is absent, like any wrong meta value: nothing is
    history, and the account's next first scan (one with no cursors, such
    as ``kept rebuild``'s) writes a good cutoff over it. An account
    scanned before keeps no cutoff, as a database from before cutoffs did.
    """
    return meta_moment(store, history_key(account))
