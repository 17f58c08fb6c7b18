"""``kept forget``: erase one person from everything kept keeps.

`forget_person` takes them out of, in this order:

1. the digests planned but not confirmed as sent (meta ``digest_outbox``
   and ``digest_outbox:ACCOUNT``, kept for a retry by `kept.daemon.run`):
   the message there is base64, which the store cannot search, so each is
   decoded here and dropped if it, or a note it carries, mentions them.
   The next attempt builds a new digest without them (had the dropped one
   reached the user after all, that day has two digests);
2. the database: `kept.storage.tinydb_store.TinyDBStore.forget` (records,
   notes for the next digest, keep-in-touch decisions, scan problems and
   the rest of meta);
3. the copies ``kept rebuild`` set aside (``kept.json.broken-TIME`` and the
   files moved with it): each that mentions them is deleted whole
   (`kept.storage.transaction_lock.forget_in_set_aside_copies`).

The person is their address and every name the stored mail gives them
(`kept.storage.index.Person`). The caller holds the writer and feedback
locks (`kept.storage.instance_lock`), so no scan or correction runs beside.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import logging
from collections import Counter
from typing import Any

from kept.storage.index import Person
from kept.storage.tinydb_store import TinyDBStore
from kept.storage.transaction_lock import forget_in_set_aside_copies

__all__ = ["DIGEST_PLANS", "forget_person"]

logger = logging.getLogger(__name__)

#: The meta keys of planned digests start so (see `kept.daemon.run`).
DIGEST_PLANS = "digest_outbox"


def forget_person(store: TinyDBStore, address: str) -> dict[str, int]:
    """Erase the person at `address` from the database and the copies set aside; say how much went.

    :returns: how many of each were removed: the store's tables (see
        `TinyDBStore.forget`), ``planned digests`` and ``old database
        copies`` (a copy is a main file with the files moved with it).
    :raises StorageError: if the database or a copy cannot be read or written.
    """
    with store.transaction():
        person = store.person(address)
        planned = 0
        for key in store.meta_keys():
            if key.startswith(DIGEST_PLANS) and _plan_mentions(store.get_meta(key), person):
                store.set_meta(key, None)
                planned += 1
        removed = Counter(store.forget(person))
    removed["planned digests"] = planned
    deleted = forget_in_set_aside_copies(store.path, person, lock_timeout=store.lock_timeout)
    for path in deleted:
        logger.info("Deleted %s, set aside by kept rebuild, which mentioned the person", path)
    removed["old database copies"] = len({path.name.rsplit(".broken-", 1)[1] for path in deleted})
    return dict(+removed)


def _plan_mentions(plan: Any, person: Person) -> bool:
    """True if a planned digest mentions `person`: in its notes, its headers or any text part of its message."""
    if plan is None:
        return False
    if person.mentioned_in(plan):
        return True
    if not isinstance(plan, dict) or not isinstance(plan.get("message"), str):
        return False
    try:
        data = base64.b64decode(plan["message"], validate=True)
    except (binascii.Error, ValueError):
        return False  # not a plan `kept.daemon.run` would send
    message = email.message_from_bytes(data, policy=email.policy.default)
    texts = [str(value) for value in message.values()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            try:
                texts.append(str(part.get_content()))
            except (LookupError, ValueError):  # an unknown charset: the raw text then
                texts.append(str(part.get_payload()))
    return person.mentions(data.decode("utf-8", "replace")) or any(person.mentions(text) for text in texts)
