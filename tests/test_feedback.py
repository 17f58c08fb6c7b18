"""The user's corrections: store functions, reply parsing, and replies to digests."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

import pytest

from kept.clock import SNOOZE_DAY_HELP
from kept.daemon.feedback import (
    Command,
    dismiss_promise,
    mark_promise_done,
    mark_thread_done,
    mute_contact,
    parse_commands,
    resolve_promise,
    sentence_fingerprint,
    snooze_promise,
    snooze_thread,
)
from kept.daemon.replies import apply_digest_reply, new_digest_message_id, references_a_digest
from kept.errors import UserError
from kept.models import Address, MailMessage, Promise, Thread, ThreadMessage
from kept.settings import Settings
from kept.storage.memory import MemoryStore

from tests.helpers import ME, utc

NOW = utc(2026, 3, 18, 9, 0)  # a Wednesday
TODAY = date(2026, 3, 18)
SETTINGS = Settings(path=Path("/dev/null"), addresses=(ME, "me@work.example"), database=Path("/dev/null"))


def promise(pid: str, sentence: str = "I'll send you the article.", **fields) -> Promise:
    values = dict(
        id=pid, account="acct", message_id=f"<{pid}@test>", thread_key="t1", sentence=sentence,
        action="send you the article", kind="deliver", counterparties=("anna@x.org",),
        made_at=utc(2026, 3, 10), due=date(2026, 3, 13), due_is_default=True, confidence=0.9, rule_id="r",
    )
    values.update(fields)
    return Promise(**values)


def thread(key: str, sender: str = "bob@y.org") -> Thread:
    return Thread(
        key=key, account="acct", subject="Budget",
        messages=(
            ThreadMessage("<q@test>", "received", utc(2026, 3, 10), sender, to=(ME,)),
        ),
    )


@pytest.fixture
def store() -> MemoryStore:
    s = MemoryStore()
    s.put_promise(promise("abc1230000"))
    s.put_promise(promise("abc4560000", "I'll call you on Friday."))
    s.put_promise(promise("ffff000000", "I will send the report."))
    s.put_thread(thread("thread-one"))
    s.put_thread(thread("thread-two", sender="carol@z.org"))
    return s


# -- store functions --------------------------------------------------------


def test_done_by_unique_prefix(store):
    done = mark_promise_done(store, "ffff", NOW)
    assert done.id == "ffff000000"
    stored = store.get_promise("ffff000000")
    assert stored.status == "done" and stored.closed_at == NOW
    assert store.get_promise("abc1230000").status == "open"


def test_ambiguous_too_short_and_unknown_ids_are_user_errors_with_a_fix(store):
    with pytest.raises(UserError, match="ambiguous") as ambiguous:
        resolve_promise(store, "abc")
    assert ambiguous.value.hint
    with pytest.raises(UserError, match="too short"):
        resolve_promise(store, "ff")
    with pytest.raises(UserError, match="no promise") as unknown:
        mark_promise_done(store, "0000", NOW)
    assert "kept promises" in unknown.value.hint
    with pytest.raises(UserError, match="no thread"):
        mark_thread_done(store, "nope", NOW)


def test_snooze_and_dismiss(store):
    snoozed = snooze_promise(store, "abc123", date(2026, 3, 25))
    assert (snoozed.status, snoozed.snoozed_until) == ("snoozed", date(2026, 3, 25))
    dismissed = dismiss_promise(store, "abc456", NOW)
    assert dismissed.status == "dismissed"
    assert store.get_meta("dismissed_sentences") == [sentence_fingerprint("I'll call you on Friday.")]
    dismiss_promise(store, "abc456", NOW)  # twice: remembered once
    assert len(store.get_meta("dismissed_sentences")) == 1
    with pytest.raises(UserError, match="nothing to snooze"):
        snooze_promise(store, "abc456", date(2026, 3, 25))


def test_thread_done_snooze_and_mute(store):
    assert mark_thread_done(store, "thread-o", NOW).status == "done"
    assert store.get_thread("thread-one").done_at == NOW
    snoozed = snooze_thread(store, "thread-tw", date(2026, 4, 1))
    assert (snoozed.status, snoozed.snoozed_until) == ("snoozed", date(2026, 4, 1))
    assert mute_contact(store, " <Bob@Y.org> ") == "bob@y.org"
    mute_contact(store, "bob@y.org")
    assert store.get_meta("muted_contacts") == ["bob@y.org"]
    with pytest.raises(UserError):
        mute_contact(store, "not an address")


# -- parsing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("done 3", Command("done", (3,), None, "done 3")),
        ("Done 3 5", Command("done", (3, 5), None, "Done 3 5")),
        ("done #3, 5 and 7.", Command("done", (3, 5, 7), None, "done #3, 5 and 7.")),
        ("- done 1", Command("done", (1,), None, "- done 1")),
        ("snooze 2 friday", Command("snooze", (2,), date(2026, 3, 20), "snooze 2 friday")),
        ("snooze 2 Friday", Command("snooze", (2,), date(2026, 3, 20), "snooze 2 Friday")),
        ("snooze 2 until 2026-12-01", Command("snooze", (2,), date(2026, 12, 1), "snooze 2 until 2026-12-01")),
        ("snooze 2 for 3 days", Command("snooze", (2,), date(2026, 3, 21), "snooze 2 for 3 days")),
        ("snooze 4 6 next week", Command("snooze", (4, 6), date(2026, 3, 23), "snooze 4 6 next week")),
        ("snooze 1 tomorrow", Command("snooze", (1,), date(2026, 3, 19), "snooze 1 tomorrow")),
        ("not a promise 4", Command("dismiss", (4,), None, "not a promise 4")),
        ("Not a promise: 4", Command("dismiss", (4,), None, "Not a promise: 4")),
        ("dismiss 4", Command("dismiss", (4,), None, "dismiss 4")),
        ("MUTE 7", Command("mute", (7,), None, "MUTE 7")),
    ],
)
def test_parse_command_forms(line, expected):
    assert parse_commands(line, TODAY) == ([expected], [])


@pytest.mark.parametrize(
    ("line", "numbers", "until"),
    [
        # A date's own digits are not item numbers (TODAY is Wednesday 18 March 2026).
        ("snooze 1 2026-12-01", (1,), date(2026, 12, 1)),
        ("snooze 1 until 2026-12-01", (1,), date(2026, 12, 1)),
        ("snooze 1 2 2026-12-01", (1, 2), date(2026, 12, 1)),
        ("snooze 2 12 dec", (2,), date(2026, 12, 12)),
        ("snooze 2 12 Dec.", (2,), date(2026, 12, 12)),
        ("snooze 2 12th of December", (2,), date(2026, 12, 12)),
        ("snooze 2 until 12 december", (2,), date(2026, 12, 12)),
        ("snooze 2, 3 12 dec 2027", (2, 3), date(2027, 12, 12)),
        ("snooze 2 dec 12", (2,), date(2026, 12, 12)),
        ("snooze 2 Dec 12, 2026", (2,), date(2026, 12, 12)),
        ("snooze 2 3 dec 12", (2, 3), date(2026, 12, 12)),
        ("snooze 5 1 march", (5,), date(2027, 3, 1)),       # already past this year: next year's
        ("snooze 5 18 march", (5,), date(2027, 3, 18)),     # today: next year's
        # Weekday names, relative words and spans after several items.
        ("snooze 3 12 friday", (3, 12), date(2026, 3, 20)),
        ("snooze 3 fri", (3,), date(2026, 3, 20)),
        ("snooze 3 4 next mon", (3, 4), date(2026, 3, 23)),
        ("snooze 1 2 tomorrow", (1, 2), date(2026, 3, 19)),
        ("snooze 1 2 next week", (1, 2), date(2026, 3, 23)),
        ("snooze 1 2 3 days", (1, 2), date(2026, 3, 21)),
        ("snooze 1 2 for 2 weeks", (1, 2), date(2026, 4, 1)),
        ("snooze 1 and 2 in two weeks", (1, 2), date(2026, 4, 1)),
        ("snooze 4 the 12th", (4,), date(2026, 4, 12)),
        ("snooze 4 end of the month", (4,), date(2026, 3, 31)),
    ],
)
def test_snooze_dates_are_not_read_as_item_numbers(line, numbers, until):
    assert parse_commands(line, TODAY) == ([Command("snooze", numbers, until, line)], [])


@pytest.mark.parametrize(
    ("line", "numbers"),
    [
        ("done 1 2 3", (1, 2, 3)),
        ("done 1 12", (1, 12)),
        ("dismiss 2 12", (2, 12)),
        ("mute 3 4", (3, 4)),
    ],
)
def test_numbers_after_other_commands_are_all_items(line, numbers):
    [command], unparsed = parse_commands(line, TODAY)
    assert command.numbers == numbers and unparsed == []


@pytest.mark.parametrize(
    "line",
    [
        "done 1 2026-12-01",          # a date where only items belong
        "done 2 12 dec",
        "snooze 2 12",                # no date at all: not items 2 and 12
        "snooze 2 12 dec 12 dec",
        "snooze 2 31 feb",            # no such day
        "snooze 2 until friday or monday",
        "snooze 2 thursday week",     # only part of it is a date the parser knows
        "snooze 2 friday please",
        # 12 January or 1 December? kept.clock.read_day reads no numeric day/month,
        # on the command line (--before) as in a reply.
        "snooze 2 12/1",
    ],
)
def test_lines_that_are_not_exactly_items_and_a_date_are_reported_back(line):
    assert parse_commands(line, TODAY) == ([], [line])


@pytest.mark.parametrize(
    "line",
    [
        "thanks!",
        "done",                       # no number
        "done3",
        "done 3 4pm",                 # not a list of items
        "snooze 2",                   # no date
        "snooze 2 yesterday",         # not in the future
        "snooze 2 until 2026-02-30",  # no such day
        "snooze 2 whenever",
        "please mark 3 done",
    ],
)
def test_garbage_is_reported_back(line):
    assert parse_commands(line, TODAY) == ([], [line])


def test_quoted_lines_signature_and_original_are_ignored():
    text = (
        "done 1\n"
        "> done 2\n"
        ">> mute 9\n"
        "\n"
        "Thanks, kept!\n"
        "-- \n"
        "Me\n"
        "done 5\n"
    )
    commands, unparsed = parse_commands(text, TODAY)
    assert [c.numbers for c in commands] == [(1,)]
    assert unparsed == ["Thanks, kept!"]
    for divider in ("On Wed, Mar 18, 2026 at 7:30 AM kept <me@example.com> wrote:",
                    "-----Original Message-----", "From: kept <me@example.com>", "________________"):
        commands, unparsed = parse_commands(f"mute 3\n{divider}\ndone 4\nblah\n", TODAY)
        assert [c.action for c in commands] == ["mute"] and unparsed == [], divider


# -- replies to digests ---------------------------------------------------


def sent_digest(store, day=TODAY, index=((1, "promise", "abc1230000"), (2, "promise", "abc4560000"),
                                         (3, "thread", "thread-one"), (4, "thread", "thread-two"))):
    message_id = new_digest_message_id(SETTINGS, day)
    store.set_meta("sent_digests", {message_id: {"date": day.isoformat(), "index": [list(i) for i in index]}})
    return message_id


def reply(body: str, in_reply_to: str | None, sender: str = ME, message_id: str = "<r1@test>",
          references: tuple[str, ...] = ()) -> MailMessage:
    return MailMessage(
        account="acct", role="received", folder="INBOX", message_id=message_id,
        in_reply_to=in_reply_to, references=references, from_addr=Address("Me", sender), to=(Address("", ME),),
        date=NOW, subject="Re: 2 promises due", body_text=body,
    )


def snapshot(store):
    return (
        [(p.id, p.status) for p in store.promises()],
        [(t.key, t.status) for t in store.threads()],
        store.get_meta("muted_contacts"), store.get_meta("dismissed_sentences"),
    )


def test_reply_is_carried_out_through_that_digests_numbers(store):
    digest_id = sent_digest(store)
    notes = apply_digest_reply(
        store,
        reply("done 1\nsnooze 3 friday\nnot a promise 2\nmute 4\nhello there\ndone 9\n", digest_id),
        SETTINGS, NOW,
    )
    assert store.get_promise("abc1230000").status == "done"
    assert store.get_promise("abc4560000").status == "dismissed"
    assert store.get_thread("thread-one").snoozed_until == date(2026, 3, 20)
    assert store.get_meta("muted_contacts") == ["carol@z.org"]
    assert store.get_promise("ffff000000").status == "open"
    assert store.get_meta("pending_notes") == notes
    text = "\n".join(notes)
    assert "Marked #1 done" in text and "Snoozed #3" in text and "Dismissed #2" in text
    assert "Muted carol@z.org" in text
    assert '"hello there"' in text and "#9 is not in the digest" in text


def test_a_snooze_whose_day_kept_cannot_read_is_answered_with_the_days_it_reads(store):
    digest_id = sent_digest(store)
    notes = apply_digest_reply(store, reply("snooze 3 someday\nhello there", digest_id), SETTINGS, NOW)
    assert store.get_thread("thread-one").status == "open"
    [snooze_note] = [note for note in notes if '"snooze 3 someday"' in note]
    assert snooze_note.endswith(f"nothing was changed for it. {SNOOZE_DAY_HELP}.")
    [other_note] = [note for note in notes if '"hello there"' in note]
    assert SNOOZE_DAY_HELP not in other_note


def test_reply_found_through_references_and_applied_only_once(store):
    digest_id = sent_digest(store)
    message = reply("done 1", None, references=("<other@x>", digest_id))
    assert references_a_digest(message)
    assert apply_digest_reply(store, message, SETTINGS, NOW)
    assert store.get_promise("abc1230000").status == "done"
    # The same reply seen again (sent folder, second account) does nothing more.
    assert apply_digest_reply(store, message, SETTINGS, NOW) == []
    assert len(store.get_meta("pending_notes")) == 1


def test_reply_from_a_foreign_address_changes_nothing(store):
    digest_id = sent_digest(store)
    before = snapshot(store)
    notes = apply_digest_reply(store, reply("done 1\nmute 4\nnot a promise 2", digest_id, sender="evil@attacker.example"),
                               SETTINGS, NOW)
    assert snapshot(store) == before
    assert len(notes) == 1 and notes[0].startswith("Ignored a reply claiming to be from you")
    assert "evil@attacker.example" in notes[0]


def test_reply_to_an_unknown_digest_changes_nothing(store):
    older = sent_digest(store, day=TODAY - timedelta(days=2))
    sent_digest(store)
    store.set_meta("sent_digests", {**store.get_meta("sent_digests"), older: {"date": "2026-03-16", "index": []}})
    before = snapshot(store)
    forged = new_digest_message_id(SETTINGS, TODAY - timedelta(days=1))
    notes = apply_digest_reply(store, reply("done 1", forged), SETTINGS, NOW)
    assert snapshot(store) == before
    assert len(notes) == 1 and "never sent" in notes[0]


def test_replies_to_digests_older_than_the_records_share_one_note(store):
    """After `kept rebuild` the new database knows no digest: old replies are counted, not obeyed, not alarming."""
    before = snapshot(store)
    for number, day in enumerate((TODAY - timedelta(days=30), TODAY - timedelta(days=3), TODAY - timedelta(days=9))):
        old = new_digest_message_id(SETTINGS, day)
        message = reply("done 1", old, message_id=f"<old{number}@test>")
        message = dataclasses.replace(message, date=NOW - timedelta(days=29 - 10 * number))
        apply_digest_reply(store, message, SETTINGS, NOW)
    assert snapshot(store) == before
    [note] = store.get_meta("pending_notes")
    assert note.startswith("Did not carry out 3 of your replies written 2026-02-17 to 2026-03-09")
    assert "never sent" not in note
    # Once that note went out, counting starts again; other notes stay where they are.
    store.set_meta("pending_notes", ["Marked #1 done"])
    apply_digest_reply(store, reply("done 2", new_digest_message_id(SETTINGS, TODAY - timedelta(days=5)),
                                    message_id="<old9@test>"), SETTINGS, NOW)
    assert store.get_meta("pending_notes") == [
        "Marked #1 done",
        "Did not carry out your reply of 2026-03-18: it answers a digest kept has no record of (the database "
        "was rebuilt or is new, or the digest is too old), so kept cannot tell what its numbers meant; "
        "nothing was changed.",
    ]


def test_ordinary_mail_is_not_a_reply(store):
    sent_digest(store)
    before = snapshot(store)
    assert apply_digest_reply(store, reply("done 1", "<something@else>"), SETTINGS, NOW) == []
    assert snapshot(store) == before and store.get_meta("pending_notes") is None


def test_second_address_of_the_user_is_accepted(store):
    digest_id = sent_digest(store)
    apply_digest_reply(store, reply("done 1", digest_id, sender="me@work.example"), SETTINGS, NOW)
    assert store.get_promise("abc1230000").status == "done"


def test_a_failing_reply_leaves_nothing_half_done(store, monkeypatch):
    import kept.daemon.replies as replies

    digest_id = sent_digest(store)
    before = snapshot(store)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(replies, "snooze_thread", broken)
    with pytest.raises(RuntimeError):
        apply_digest_reply(store, reply("done 1\nsnooze 3 friday", digest_id), SETTINGS, NOW)
    assert snapshot(store) == before
    assert store.get_meta("pending_notes") is None and store.get_meta("applied_replies") is None


@pytest.mark.parametrize("from_header", [
    f'"{ME}" <evil@attacker.example>',                      # own address as the display name
    f"=?utf-8?q?{ME}?= <evil@attacker.example>",             # ... as an encoded word
    f"=?utf-8?q?Me_=3C{ME}=3E?= <evil@attacker.example>",    # an encoded word that looks like an address
    f"=?utf-8?q?x=2C_{ME}?= <evil@attacker.example>",        # an encoded word adding a second address
    f"evil@attacker.example (\u202e{ME})",                  # a comment with a bidi override
])
def test_spoofed_sender_in_raw_mail_changes_nothing(store, from_header):
    """The whole way from raw bytes: only the real address of From counts, never names or encoded words."""
    from kept.extractors.message import parse_message
    from kept.models import RawMessage

    digest_id = sent_digest(store)
    before = snapshot(store)
    raw = (f"From: {from_header}\r\nTo: {ME}\r\nMessage-ID: <spoof@attacker.example>\r\n"
           f"In-Reply-To: {digest_id}\r\nDate: Wed, 18 Mar 2026 08:00:00 +0000\r\nSubject: Re: digest\r\n\r\n"
           "done 1\r\nmute 4\r\n").encode()
    message = parse_message(RawMessage(uid="1", data=raw), account="acct", role="received", folder="INBOX")
    assert message.from_addr is not None and message.from_addr.email == "evil@attacker.example"
    notes = apply_digest_reply(store, message, SETTINGS, NOW)
    assert snapshot(store) == before
    assert len(notes) == 1 and notes[0].startswith("Ignored a reply claiming to be from you")
