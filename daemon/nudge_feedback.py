"""The user's corrections to relationship nudges: done, snooze, dismiss.

Introductions and leads are stored records and change status like promises.
Keep-in-touch nudges are derived from mail, so what the user says about a
contact is kept in store meta (`kept.digest.nudges.TOUCH_STATE_KEY`):

done
    introduction: followed up (closed); lead: thanked (when no thank-you is
    known yet; the report-back comes later) or reported back (closed);
    contact: "we were in touch outside mail", the silence clock restarts now.
snooze
    hidden from the digest until the given day.
dismiss
    introduction / lead: not one, never listed again; contact: never
    suggest keeping in touch with them.

`resolve_nudge` finds what an id given on the command line means: an
address is a contact, anything else an introduction or lead id (or a
unique prefix of one).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

from kept.daemon.feedback import mute_contact, resolve_prefix
from kept.digest.nudges import TOUCH_STATE_KEY
from kept.errors import UserError
from kept.extractors.leads import thanked_at
from kept.extractors.rhythm import contact_histories
from kept.models import Introduction, Lead
from kept.settings import Settings
from kept.storage.base import Store
from kept.storage.meta import meta_records

__all__ = ["apply_nudge_command", "nudge_done", "nudge_dismiss", "nudge_snooze", "resolve_nudge"]

LISTING = "kept nudges"


def resolve_nudge(store: Store, ref: str) -> tuple[str, Any]:
    """``("intro", Introduction)``, ``("lead", Lead)`` or ``("contact", address)`` for `ref`.

    :raises UserError: when nothing or several things match.
    """
    wanted = ref.strip()
    if "@" in wanted:
        address = wanted.strip("<>").lower()
        if any(c.isspace() for c in address):
            raise UserError(f"{ref!r} is not an e-mail address", "write it like anna@example.com")
        return "contact", address
    with store.transaction():
        intro = store.get_introduction(wanted)
        if intro is not None:
            return "intro", intro
        lead = store.get_lead(wanted)
        if lead is not None:
            return "lead", lead
        keys = {i.id: "intro" for i in store.introductions()}
        keys.update({lead.id: "lead" for lead in store.leads()})
        key = resolve_prefix(wanted, keys, "nudge", LISTING)
        if keys[key] == "intro":
            return "intro", store.get_introduction(key)
        return "lead", store.get_lead(key)


def _set_touch_state(store: Store, address: str, **changes: Any) -> None:
    with store.transaction():
        states = meta_records(store, TOUCH_STATE_KEY)
        state = dict(states.get(address) or {})
        state.update(changes)
        states[address] = state
        store.set_meta(TOUCH_STATE_KEY, states)


def nudge_done(store: Store, settings: Settings, ref: str, now: datetime) -> str:
    """Mark a nudge done; return a sentence saying what happened."""
    with store.transaction():
        kind, record = resolve_nudge(store, ref)
        if kind == "contact":
            _set_touch_state(store, record, touched_at=now.isoformat(), snoozed_until=None)
            return f"Noted you were in touch with {record}; the clock starts again today."
        if kind == "intro":
            intro: Introduction = record
            if intro.is_open:
                store.put_introduction(dataclasses.replace(intro, status="done", closed_at=now, snoozed_until=None))
            return f"Introduction {intro.id} ({', '.join(intro.names or intro.people)}) is done."
        lead: Lead = record
        if not lead.is_open:
            return f"Lead {lead.id} from {lead.from_name or lead.from_email} is already {lead.status}."
        history = contact_histories(store.threads(lead.account), settings.addresses).get(lead.from_email)
        if thanked_at(lead, history) is None:
            store.put_lead(dataclasses.replace(lead, thanked_at=now, status="open", snoozed_until=None))
            return (f"Noted you thanked {lead.from_name or lead.from_email} for lead {lead.id}; "
                    f"kept will remind you to tell them how it went.")
        store.put_lead(dataclasses.replace(lead, status="done", closed_at=now, snoozed_until=None))
        return f"Lead {lead.id} from {lead.from_name or lead.from_email} is done."


def nudge_snooze(store: Store, ref: str, until: date) -> str:
    """Hide a nudge from the digest until `until`; return what happened."""
    with store.transaction():
        kind, record = resolve_nudge(store, ref)
        if kind == "contact":
            _set_touch_state(store, record, snoozed_until=until.isoformat())
            return f"Keep-in-touch for {record} snoozed until {until}."
        if not record.is_open:
            raise UserError(f"{kind} {record.id} is {record.status}, there is nothing to snooze", f"see `{LISTING}`")
        snoozed = dataclasses.replace(record, status="snoozed", snoozed_until=until)
        (store.put_introduction if kind == "intro" else store.put_lead)(snoozed)
        return f"{'Introduction' if kind == 'intro' else 'Lead'} {record.id} snoozed until {until}."


def nudge_dismiss(store: Store, ref: str, now: datetime) -> str:
    """Never list this nudge again; return what happened."""
    with store.transaction():
        kind, record = resolve_nudge(store, ref)
        if kind == "contact":
            _set_touch_state(store, record, dismissed=True)
            return f"kept will not suggest keeping in touch with {record} again."
        dismissed = dataclasses.replace(record, status="dismissed", closed_at=now, snoozed_until=None)
        (store.put_introduction if kind == "intro" else store.put_lead)(dismissed)
        return f"{'Introduction' if kind == 'intro' else 'Lead'} {record.id} dismissed; it will not be listed again."


def apply_nudge_command(
    store: Store, settings: Settings, action: str, number: int, kind: str, ref_id: str,
    until: date | None, now: datetime,
) -> str:
    """Carry out one digest-reply command ("done 12") on a nudge item; return the note."""
    ref = ref_id if kind != "contact" else ref_id.lower()
    if kind == "intro" and store.get_introduction(ref) is None or kind == "lead" and store.get_lead(ref) is None:
        return f"#{number} refers to something kept no longer has; nothing was changed."
    if action == "done":
        return f"#{number}: {nudge_done(store, settings, ref, now)}"
    if action == "snooze":
        assert until is not None
        return f"#{number}: {nudge_snooze(store, ref, until)}"
    if action == "dismiss":
        return f"#{number}: {nudge_dismiss(store, ref, now)}"
    if action == "mute" and kind == "contact":
        mute_contact(store, ref)
        return f"Muted {ref} (#{number}); their mail no longer appears in the digest."
    return f"#{number}: \"{action}\" does not apply to this item; nothing was changed."

