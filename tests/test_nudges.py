"""Relationship nudges: introductions, leads, keep-in-touch and the contact view."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kept.daemon.nudge_feedback import nudge_dismiss, nudge_done, nudge_snooze, resolve_nudge
from kept.extractors.contacts import contact_summaries
from kept.extractors.introductions import find_introduction, introduction_follow_ups
from kept.extractors.leads import find_lead, lead_nudges
from kept.extractors.rhythm import TouchState, cadence_for, contact_histories, keep_in_touch
from kept.models import Address, Introduction, Lead, Thread, ThreadMessage
from kept.settings import IntroductionNudges, KeepInTouchNudges, Settings, ThanksNudges, ThreadSettings
from kept.storage.memory import MemoryStore
from tests.helpers import ME, record, utc

T0 = utc(2026, 3, 2, 9)


def sent(body: str, to=("anna@x.org", "ben@y.net"), names=("Anna Keller", "Ben Okafor"), cc=()):
    message = record("intro", sender=ME, to=to, cc=cc, date=T0, body=body)
    return message.__class__(**{
        **{f: getattr(message, f) for f in message.__dataclass_fields__},
        "to": tuple(Address(n, a) for n, a in zip(names, to)),
    })


@pytest.mark.parametrize("body", [
    "Anna, meet Ben. Ben is the designer I told you about.",
    "Hi both,\n\nI'd like to introduce you to Ben Okafor, who drew my illustrations.",
    "Connecting you two: you both care about onboarding.",
    "Let me introduce you both - I think you should talk.",
    "Looping in Ben, who knows more about this than I do.",
    "I'm putting you in touch with Ben; he can help.",
    "Meet Anna Keller, Head of People at Northwind.",
])
def test_introductions_are_found(body):
    found = find_introduction(sent(body), {ME})
    assert found is not None
    assert found.people == ("anna@x.org", "ben@y.net")
    assert found.names == ("Anna Keller", "Ben Okafor")


@pytest.mark.parametrize("body", [
    "Can you meet Ben on Friday at 3?",                                     # "meet" as in a meeting
    "I'd like to introduce our new pricing model next quarter.",           # not a person
    "I'd like to introduce you to Carla, our new VP.",                      # Carla is not addressed
    "Let me introduce myself: I run a small consultancy.",
    "Thanks both, see you on Monday.",
    "We should connect next week about the budget.",
])
def test_non_introductions_are_not(body):
    assert find_introduction(sent(body), {ME}) is None


def test_an_introduction_needs_two_to_four_people():
    one = sent("Meet Ben, he is great.", to=("ben@y.net",), names=("Ben Okafor",))
    assert find_introduction(one, {ME}) is None
    crowd = tuple(f"p{i}@x.org" for i in range(6))
    many = sent("I'd like to introduce you to each other.", to=crowd, names=("",) * 6)
    assert find_introduction(many, {ME}) is None


def received(body: str, sender: str = "felix@vc.example", to=(ME,), automated=False):
    message = record("lead", sender=sender, to=to, date=T0, body=body, automated=automated)
    return message.__class__(**{
        **{f: getattr(message, f) for f in message.__dataclass_fields__},
        "from_addr": Address("Felix Brandt", sender),
    })


@pytest.mark.parametrize("body, about", [
    ("You should talk to Carla Mendes at Oakridge, I passed your name to her.", "Carla Mendes at Oakridge"),
    ("I passed your name to the head of pricing at Oakridge.", ""),
    ("Hi! I gave your number to Jo Park. She will call.", "Jo Park"),
    ("I'd like to introduce you to Carla Mendes.", "Carla Mendes"),
    ("Carla asked me to connect you two.", "Carla"),
    ("I referred you to Oakridge last week.", "Oakridge"),
    ("You might want to reach out to Dr. Smith at Acme.", "Dr. Smith at Acme"),
])
def test_leads_are_found(body, about):
    found = find_lead(received(body), {ME})
    assert found is not None
    assert found.about == about


@pytest.mark.parametrize("body", [
    "You should talk to your manager about the budget.",      # no name
    "Should you talk to Carla before Friday?",                  # a question
    "I will talk to Carla about it.",                           # the sender's plan, not a lead
    "Thanks for the intro to Carla!",
    "We passed the review with flying colours.",
])
def test_non_leads_are_not(body):
    assert find_lead(received(body), {ME}) is None


def test_leads_only_from_people_to_me():
    body = "You should talk to Carla Mendes."
    assert find_lead(received(body, automated=True), {ME}) is None
    assert find_lead(received(body, to=("other@x.org",)), {ME}) is None
    assert find_lead(received(body, sender=ME), {ME}) is None


# -- history-based nudges ----------------------------------------------------


def item(message_id, when, *, sender, to=(ME,), automated=False):
    role = "sent" if sender == ME else "received"
    return ThreadMessage(message_id, role, when, sender, tuple(to), (), automated)


def rhythm_threads(contact="elena@r.example", exchanges=4, every=10, start=T0):
    """`exchanges` two-way exchanges with `contact`, one every `every` days."""
    threads = []
    for n in range(exchanges):
        when = start + timedelta(days=every * n)
        threads.append(Thread(f"t{contact}{n}", "acct", "notes", (
            item(f"<in{contact}{n}>", when, sender=contact),
            item(f"<out{contact}{n}>", when + timedelta(hours=5), sender=ME, to=(contact,)),
        )))
    return threads


def test_rhythm_and_keep_in_touch():
    histories = contact_histories(rhythm_threads(), {ME})
    history = histories["elena@r.example"]
    assert history.two_way_exchanges == 4
    assert history.rhythm_days == pytest.approx(10)
    last = T0 + timedelta(days=30, hours=5)
    settings = KeepInTouchNudges()
    assert keep_in_touch(histories, last + timedelta(days=29), settings) == []   # not yet 30 days
    found = keep_in_touch(histories, last + timedelta(days=31), settings)
    assert [k.email for k in found] == ["elena@r.example"]
    assert found[0].silent_days == 31 and found[0].allowed_days == 30
    assert keep_in_touch(histories, last + timedelta(days=400), settings) == []  # a relationship that ended


def test_keep_in_touch_needs_real_back_and_forth():
    few = contact_histories(rhythm_threads(exchanges=3), {ME})
    assert keep_in_touch(few, T0 + timedelta(days=90), KeepInTouchNudges()) == []
    one_way = [Thread(f"n{n}", "acct", "news", (item(f"<n{n}>", T0 + timedelta(days=7 * n), sender="bob@x.org"),))
               for n in range(10)]
    assert keep_in_touch(contact_histories(one_way, {ME}), T0 + timedelta(days=200), KeepInTouchNudges()) == []
    robot = [Thread(f"r{n}", "acct", "bill", (
        item(f"<r{n}>", T0 + timedelta(days=7 * n), sender="bills@x.org", automated=True),
        item(f"<ra{n}>", T0 + timedelta(days=7 * n, hours=1), sender=ME, to=("bills@x.org",)),
    )) for n in range(10)]
    assert keep_in_touch(contact_histories(robot, {ME}), T0 + timedelta(days=200), KeepInTouchNudges()) == []


def test_any_message_resets_the_clock_and_strongest_come_first():
    threads = rhythm_threads("a@x.org", exchanges=4) + rhythm_threads("b@x.org", exchanges=6, every=5)
    now = T0 + timedelta(days=90)
    found = keep_in_touch(contact_histories(threads, {ME}), now, KeepInTouchNudges())
    assert [k.email for k in found] == ["b@x.org", "a@x.org"]
    threads.append(Thread("late", "acct", "hi", (item("<late>", now - timedelta(days=2), sender="a@x.org"),)))
    found = keep_in_touch(contact_histories(threads, {ME}), now, KeepInTouchNudges())
    assert [k.email for k in found] == ["b@x.org"]


def test_cadence_exclusions_and_user_state():
    settings = KeepInTouchNudges(
        cadence={"mum@home.example": 7, "x.org": 60},
        tags={"family": ("dad@home.example",)}, tag_cadence={"family": 14},
        exclude=("boss@x.org",),
    )
    assert cadence_for("mum@home.example", settings) == (7, "mum@home.example")
    assert cadence_for("dad@home.example", settings) == (14, "tag family")
    assert cadence_for("anna@x.org", settings) == (60, "x.org")
    assert cadence_for("anna@sub.x.org", settings) == (60, "x.org")
    assert cadence_for("anna@y.org", settings) is None
    threads = [Thread("m", "acct", "hi", (item("<m>", T0, sender="mum@home.example"),))]
    threads += rhythm_threads("boss@x.org")
    histories = contact_histories(threads, {ME})
    now = T0 + timedelta(days=100)
    found = keep_in_touch(histories, now, settings)
    assert [(k.email, k.cadence_from) for k in found] == [("mum@home.example", "mum@home.example")]
    snoozed = {"mum@home.example": TouchState(snoozed_until=(now + timedelta(days=3)).date())}
    assert keep_in_touch(histories, now, settings, snoozed) == []
    touched = {"mum@home.example": TouchState(touched_at=now - timedelta(days=2))}
    assert keep_in_touch(histories, now, settings, touched) == []
    assert keep_in_touch(histories, now, settings, muted={"mum@home.example"}) == []


def make_intro(**changes):
    values = dict(id="i1", account="acct", message_id="<intro>", thread_key="t", made_at=T0,
                  people=("anna@x.org", "ben@y.net"), names=("Anna", "Ben"))
    values.update(changes)
    return Introduction(**values)


def test_introduction_follow_up_until_each_side_heard_from_me():
    settings = IntroductionNudges()
    intro = make_intro()
    threads = [Thread("t", "acct", "intro", (item("<intro>", T0, sender=ME, to=intro.people),))]
    # Sam wrote to Anna three weeks before the intro, never to Ben.
    threads.append(Thread("old", "acct", "hi", (item("<old>", T0 - timedelta(days=21), sender=ME, to=("anna@x.org",)),)))
    histories = contact_histories(threads, {ME})
    today = date(2026, 3, 12)
    assert introduction_follow_ups([intro], histories, T0 + timedelta(days=6), today, settings) == []
    [due] = introduction_follow_ups([intro], histories, T0 + timedelta(days=8), today, settings)
    assert due.pending == ("anna@x.org", "ben@y.net")
    assert due.no_recent_contact == ("ben@y.net",)
    threads.append(Thread("a", "acct", "how", (item("<a>", T0 + timedelta(days=8), sender=ME, to=("anna@x.org",)),)))
    [due] = introduction_follow_ups([intro], contact_histories(threads, {ME}), T0 + timedelta(days=9), today, settings)
    assert due.pending == ("ben@y.net",)
    threads.append(Thread("b", "acct", "how", (item("<b>", T0 + timedelta(days=9), sender=ME, to=("ben@y.net",)),)))
    assert introduction_follow_ups([intro], contact_histories(threads, {ME}), T0 + timedelta(days=10), today, settings) == []
    done = make_intro(status="done")
    assert introduction_follow_ups([done], histories, T0 + timedelta(days=8), today, settings) == []


def make_lead(**changes):
    values = dict(id="l1", account="acct", message_id="<lead>", thread_key="t", received_at=T0,
                  from_email="felix@vc.example", from_name="Felix", about="Carla")
    values.update(changes)
    return Lead(**values)


def test_lead_thank_then_report_back():
    settings = ThanksNudges()
    lead = make_lead()
    threads = [Thread("t", "acct", "lead", (item("<lead>", T0, sender="felix@vc.example"),))]
    today = date(2026, 3, 5)
    histories = contact_histories(threads, {ME})
    assert lead_nudges([lead], histories, T0 + timedelta(days=2), today, settings) == []
    [nudge] = lead_nudges([lead], histories, T0 + timedelta(days=4), today, settings)
    assert nudge.stage == "thank"
    thanks = T0 + timedelta(days=4)
    threads.append(Thread("ty", "acct", "thanks", (item("<ty>", thanks, sender=ME, to=("felix@vc.example",)),)))
    histories = contact_histories(threads, {ME})
    assert lead_nudges([lead], histories, thanks + timedelta(days=29), today, settings) == []
    [nudge] = lead_nudges([lead], histories, thanks + timedelta(days=31), today, settings)
    assert nudge.stage == "report" and nudge.thanked_at == thanks
    report = thanks + timedelta(days=32)
    threads.append(Thread("rb", "acct", "news", (item("<rb>", report, sender=ME, to=("felix@vc.example",)),)))
    assert lead_nudges([lead], contact_histories(threads, {ME}), report + timedelta(days=1), today, settings) == []


def test_contact_summaries():
    threads = rhythm_threads("elena@r.example")
    threads.append(Thread("news", "acct", "news", (item("<news>", T0, sender="news@x.org", automated=True),)))
    [row] = contact_summaries(threads, [], {ME}, ThreadSettings(), T0 + timedelta(days=40))
    assert row.email == "elena@r.example"
    assert row.messages_sent == 4 and row.messages_received == 4
    assert row.my_reply_hours == pytest.approx(5)
    assert row.last_from_me and row.rhythm_days == pytest.approx(10)


# -- corrections ---------------------------------------------------------------


def test_done_snooze_dismiss(tmp_path):
    store = MemoryStore()
    settings = Settings(path=tmp_path / "c.toml", addresses=(ME,), database=tmp_path / "db.json")
    store.put_introduction(make_intro(id="abcd1234"))
    store.put_lead(make_lead(id="ffee0001"))
    now = T0 + timedelta(days=8)
    assert resolve_nudge(store, "abcd")[0] == "intro"
    assert resolve_nudge(store, "Anna@X.org") == ("contact", "anna@x.org")
    nudge_snooze(store, "abcd1234", date(2026, 3, 20))
    assert store.get_introduction("abcd1234").status == "snoozed"
    nudge_done(store, settings, "abcd1234", now)
    assert store.get_introduction("abcd1234").status == "done"
    # A lead nobody thanked for: "done" records the thank-you, the lead stays open for the report.
    nudge_done(store, settings, "ffee0001", now)
    assert store.get_lead("ffee0001").thanked_at == now and store.get_lead("ffee0001").status == "open"
    nudge_done(store, settings, "ffee0001", now)
    assert store.get_lead("ffee0001").status == "done"
    nudge_dismiss(store, "elena@r.example", now)
    nudge_done(store, settings, "anna@x.org", now)
    states = store.get_meta("keep_in_touch")
    assert states["elena@r.example"]["dismissed"] is True
    assert states["anna@x.org"]["touched_at"] == now.isoformat()
    from kept.errors import UserError

    with pytest.raises(UserError):
        resolve_nudge(store, "zzzz")


# -- the sample mailbox, end to end ---------------------------------------------


class NoPromises:
    """The scanner's promise extractor is not under test here."""

    def extract_many(self, items):
        return [[] for _ in items]


def test_sample_mailbox_digest_shows_one_case_of_each_habit(tmp_path):
    from pathlib import Path

    from kept.config import load_settings
    from kept.daemon.replies import apply_digest_reply
    from kept.daemon.scan import Scanner
    from kept.digest.build import build_digest
    from kept.digest.render import render_html, render_text

    root = Path(__file__).resolve().parent.parent
    settings = load_settings(root / "examples" / "demo-config.toml")
    now = utc(2026, 11, 20, 6, 30)
    store = MemoryStore()
    Scanner(settings, store, extractor_factory=NoPromises, now=lambda: now).scan_all()
    digest = build_digest(store, now, settings)
    assert [i.who for i in digest.introductions] == ["Anna Keller to Ben Okafor"]
    assert [(i.giver, i.about, i.stage) for i in digest.leads] == [("Felix Brandt", "Carla Mendes at Oakridge", "thank")]
    assert [c.email for c in digest.keep_in_touch] == ["elena@petrova-research.example"]
    # The lead is listed once: under "thank and report back", not also as waiting on you.
    assert "felix.brandt@brandt-ventures.example" not in [w.contact for w in digest.waiting_on_me]
    numbers = {kind: n for n, kind, _ in digest.index if kind in ("intro", "lead", "contact")}
    assert sorted(numbers) == ["contact", "intro", "lead"]
    text = render_text(digest)
    assert "You introduced Anna Keller to Ben Okafor on Tue 10 Nov" in text
    assert "Thank Felix Brandt for the lead to Carla Mendes at Oakridge" in text
    assert "Elena Petrova" in text and "silent 49 days" in text
    assert "Keep in touch" in render_html(digest)

    # "done N" in a reply to this digest closes the introduction.
    store.set_meta("sent_digests", {"<kept-digest-1@x>": {"date": "2026-11-20", "index": [list(e) for e in digest.index]}})
    reply = record("reply", sender=settings.addresses[0], to=(settings.addresses[0],), date=now,
                   body=f"done {numbers['intro']}\nsnooze {numbers['contact']} until 2026-12-01", in_reply_to=None)
    reply = reply.__class__(**{**{f: getattr(reply, f) for f in reply.__dataclass_fields__},
                               "in_reply_to": "<kept-digest-1@x>"})
    notes = apply_digest_reply(store, reply, settings, now)
    assert "is done" in notes[0] and "snoozed until 2026-12-01" in notes[1]
    later = build_digest(store, now + timedelta(hours=1), settings)
    assert later.introductions == () and later.keep_in_touch == ()
    assert len(later.leads) == 1


def test_nudges_switch_off(tmp_path):
    import dataclasses

    from kept.digest.build import build_digest
    from kept.settings import NudgeSettings

    store = MemoryStore()
    store.put_introduction(make_intro(made_at=T0))
    base = Settings(path=tmp_path / "c.toml", addresses=(ME,), database=tmp_path / "db.json")
    now = T0 + timedelta(days=8)
    assert len(build_digest(store, now, base).introductions) == 1
    off = dataclasses.replace(base, nudges=NudgeSettings(enabled=False))
    assert build_digest(store, now, off).introductions == ()
    no_intros = dataclasses.replace(base, nudges=NudgeSettings(introductions=IntroductionNudges(enabled=False)))
    assert build_digest(store, now, no_intros).introductions == ()
