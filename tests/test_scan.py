"""The scanning pass: sources -> records -> threads, promises -> store."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from kept.daemon.scan import Scanner
from kept.errors import AuthenticationError
from kept.mailboxes.base import Folder
from kept.mailboxes.memory import MemorySource
from kept.models import PromiseCandidate
from kept.settings import MaildirAccount, Settings
from kept.storage.memory import MemoryStore

from tests.helpers import ME, raw_mail, utc

INBOX = Folder("INBOX", "received")
SENT = Folder("Sent", "sent")
NOW = utc(2026, 3, 20)


class SendPromises:
    """A stand-in extractor for scanner tests: every "I'll send ..." sentence is a promise.

    The real spaCy extractor has its own tests; here only the plumbing matters.
    """

    calls = 0

    def extract_many(self, items):
        for text, _sent_at in items:
            SendPromises.calls += 1
            yield [
                PromiseCandidate(sentence=m.group(0), action=m.group(1), kind="deliver", due=None,
                                 due_text=None, confidence=0.9, rule_id="test-send")
                for m in re.finditer(r"I'll (send [^.]*)\.", text)
            ]


def make(accounts=("acct",)):
    settings = Settings(
        path=Path("/dev/null"), addresses=(ME,), database=Path("/dev/null"),
        accounts=tuple(MaildirAccount(name=a, path=Path("/nonexistent")) for a in accounts),
    )
    sources = {a: MemorySource(a) for a in accounts}
    store = MemoryStore()
    scanner = Scanner(settings, store, extractor_factory=SendPromises,
                      source_factory=lambda account: sources[account.name], now=lambda: NOW)
    return scanner, store, sources


def test_scan_stores_messages_threads_and_promises_once():
    scanner, store, sources = make()
    src = sources["acct"]
    src.add(INBOX, raw_mail("q", sender="anna@x.org", date=utc(2026, 3, 1), subject="Article?",
                            body="Do you have that article?"))
    src.add(SENT, raw_mail("p", sender=ME, to="anna@x.org", date=utc(2026, 3, 2), subject="Re: Article?",
                           in_reply_to="q", body="Sure. I'll send you the article tomorrow.\n"))
    [result] = scanner.scan_all()
    assert result.error is None
    assert (result.messages, result.promises) == (2, 1)
    assert store.count_messages() == {"sent": 1, "received": 1}
    [promise] = list(store.promises())
    assert promise.counterparties == ("anna@x.org",)
    assert promise.due == promise.made_at.date() + timedelta(days=3)  # default horizon for deliver
    assert promise.due_is_default
    [thread] = list(store.threads())
    assert len(thread.messages) == 2 and promise.thread_key == thread.key

    again = scanner.scan_all()[0]
    assert (again.messages, again.promises) == (0, 0)
    assert len(list(store.promises())) == 1


def test_later_delivery_keeps_the_promise():
    scanner, store, sources = make()
    src = sources["acct"]
    src.add(SENT, raw_mail("p", sender=ME, to="anna@x.org", date=utc(2026, 3, 2),
                           body="I'll send you the slides tomorrow.\n"))
    scanner.scan_all()
    src.add(SENT, raw_mail("d", sender=ME, to="anna@x.org", date=utc(2026, 3, 3), subject="Slides",
                           body="As promised, here are the slides.\n", attachment=("slides.pdf", b"%PDF")))
    result = scanner.scan_all()[0]
    assert result.kept == 1
    [promise] = list(store.promises())
    assert promise.status == "kept" and promise.evidence


def test_uidvalidity_change_rescans_without_duplicates():
    scanner, store, sources = make()
    src = sources["acct"]
    for n in range(5):
        src.add(INBOX, raw_mail(f"m{n}", sender="anna@x.org", date=utc(2026, 3, 1 + n)))
    scanner.scan_all()
    src.reset_uidvalidity(INBOX)
    result = scanner.scan_all()[0]
    assert result.messages == 0 and result.seen == 5
    assert store.count_messages()["received"] == 5


def test_failing_account_does_not_stop_the_others():
    scanner, store, sources = make(("work", "home"))
    sources["work"].fail_on_enter = AuthenticationError("work: login refused for me", "check password_env")
    sources["home"].add(INBOX, raw_mail("h", sender="anna@x.org", date=utc(2026, 3, 1)))
    work, home = scanner.scan_all()
    assert work.error and "login refused" in work.error
    assert home.error is None and home.messages == 1
    health = store.get_meta("health:work")
    assert health["ok"] is False and health["failing_since"]
    assert store.get_meta("health:home")["ok"] is True


def test_dismissed_sentence_is_never_raised_again():
    from kept.daemon.feedback import sentence_fingerprint

    scanner, store, sources = make()
    store.set_meta("dismissed_sentences", [sentence_fingerprint("I'll send you the  ARTICLE.")])
    sources["acct"].add(SENT, raw_mail("p", sender=ME, to="anna@x.org", date=utc(2026, 3, 2),
                                       body="I'll send you the article.\n"))
    assert scanner.scan_all()[0].promises == 0


def test_received_mail_only_never_loads_the_extractor():
    SendPromises.calls = 0
    scanner, store, sources = make()
    sources["acct"].add(INBOX, raw_mail("q", sender="anna@x.org", date=utc(2026, 3, 1)))
    scanner.scan_all()
    assert scanner._extractor is None and SendPromises.calls == 0


def test_copies_of_one_sent_message_give_one_promise():
    # Enron's archive holds one sent message in several folders under other
    # Message-IDs, minutes apart or a lost time zone (whole hours) apart.
    scanner, store, sources = make()
    src = sources["acct"]
    body = "Thanks.  I'll send you the  lease on Friday.\n"
    sent_at = utc(2026, 3, 2, 10, 6)
    src.add(SENT, raw_mail("a", sender=ME, to="anna@x.org", date=sent_at, subject="Lease", body=body))
    src.add(SENT, raw_mail("b", sender=ME, to="anna@x.org", date=sent_at + timedelta(minutes=2),
                           subject="Lease", body=body))
    src.add(Folder("Sent Items", "sent"), raw_mail("c", sender=ME, to="anna@x.org",
                                                   date=sent_at + timedelta(hours=10), subject="RE: Lease",
                                                   body=body.replace("  ", " ")))
    result = scanner.scan_all()[0]
    assert (result.messages, result.promises) == (3, 1)
    [promise] = list(store.promises())
    assert promise.message_id == "<a@test>"

    # A rescan finds the same promise under the same id.
    src.reset_uidvalidity(SENT)
    assert scanner.scan_all()[0].promises == 0
    assert [p.id for p in store.promises()] == [promise.id]


def test_the_same_words_again_later_or_to_someone_else_are_new_promises():
    scanner, store, sources = make()
    src = sources["acct"]
    body = "I'll send you the lease on Friday.\n"
    sent_at = utc(2026, 3, 2, 10, 6)
    src.add(SENT, raw_mail("a", sender=ME, to="anna@x.org", date=sent_at, subject="Lease", body=body))
    src.add(SENT, raw_mail("b", sender=ME, to="anna@x.org", date=sent_at + timedelta(hours=2, minutes=1),
                           subject="Lease", body=body))
    src.add(SENT, raw_mail("c", sender=ME, to="anna@x.org", date=sent_at + timedelta(days=7),
                           subject="Lease", body=body))
    src.add(SENT, raw_mail("d", sender=ME, to="bob@x.org", date=sent_at, subject="Lease", body=body))
    assert scanner.scan_all()[0].promises == 4
    assert len({p.id for p in store.promises()}) == 4


def test_sent_mail_written_by_someone_else_holds_no_promise_of_the_user(caplog):
    """An assistant's message filed in the user's Sent folder carries the assistant's promises."""
    scanner, store, sources = make()
    src = sources["acct"]
    for n in range(2):
        src.add(SENT, raw_mail(f"a{n}", sender="assistant@x.org", to="bob@x.org", date=utc(2026, 3, 2 + n),
                               body="I will talk to Greg's assistant and get back with you.\n"))
    src.add(SENT, raw_mail("mine", sender=ME, to="bob@x.org", date=utc(2026, 3, 5),
                           body="I'll send you the slides tomorrow.\n"))
    with caplog.at_level("WARNING"):
        [result] = scanner.scan_all()
    assert result.messages == 3 and result.promises == 1
    [promise] = list(store.promises())
    assert "slides" in promise.sentence
    warnings = [r.getMessage() for r in caplog.records if "assistant@x.org" in r.getMessage()]
    assert len(warnings) == 1 and "add the address if it is yours" in warnings[0]


def test_sent_mail_an_assistant_wrote_from_my_address_holds_no_promise_of_mine(caplog):
    """ "Sally asked me to set up ... I'll send ..." from Sally's own address is her assistant's promise."""
    sally = "sally.beck@x.org"
    settings = Settings(
        path=Path("/dev/null"), addresses=(sally,), database=Path("/dev/null"),
        accounts=(MaildirAccount(name="acct", path=Path("/nonexistent")),),
    )
    src = MemorySource("acct")
    store = MemoryStore()
    scanner = Scanner(settings, store, extractor_factory=SendPromises, source_factory=lambda account: src,
                      now=lambda: NOW)
    for n in range(2):
        src.add(SENT, raw_mail(f"a{n}", sender=sally, to="bob@x.org", date=utc(2026, 3, 2 + n),
                               body="Bob,\n\nSally asked me to set up a meeting. I'll send the agenda.\n\nThanks,\nPatti\n"))
    src.add(SENT, raw_mail("mine", sender=sally, to="bob@x.org", date=utc(2026, 3, 5),
                           body="Sally,\n\nI'll send you the slides tomorrow.\n\n--Sally\n"))
    with caplog.at_level("INFO"):
        [result] = scanner.scan_all()
    assert result.messages == 3 and result.promises == 1
    [promise] = list(store.promises())
    assert "slides" in promise.sentence
    notes = [r.getMessage() for r in caplog.records if "on your behalf" in r.getMessage()]
    assert len(notes) == 1


def test_inbox_mail_claiming_to_be_mine_does_not_end_a_wait():
    """Issue 18 #8: a forged "from me" in the inbox, thread subject, no In-Reply-To."""
    from kept.daemon.scan import CLAIMED_MINE
    from kept.digest.build import digest_candidates

    scanner, store, sources = make()
    src = sources["acct"]

    def waiting():
        return [item.message_id for item in digest_candidates(store, NOW, scanner.settings).sections["waiting_on_me"]]

    src.add(INBOX, raw_mail("q", sender="anna@x.org", date=utc(2026, 3, 15), subject="Budget",
                            body="Can you approve the budget by Friday?"))
    scanner.scan_all()
    assert waiting() == ["<q@test>"]
    src.add(INBOX, raw_mail("forged", sender=ME, to="anna@x.org", date=utc(2026, 3, 16), subject="Re: Budget",
                            body="Approved."))
    scanner.scan_all()
    [thread] = list(store.threads())
    assert [m.message_id for m in thread.messages] == ["<q@test>", "<forged@test>"]  # joined by subject
    assert waiting() == ["<q@test>"]
    assert CLAIMED_MINE in store.get_message("acct", "<forged@test>").problems
    # The user's real answer, in the sent folder, ends the wait.
    src.add(SENT, raw_mail("real", sender=ME, to="anna@x.org", date=utc(2026, 3, 17), subject="Re: Budget",
                           body="Approved, see the attached sheet."))
    scanner.scan_all()
    assert waiting() == []


def test_sent_mail_goes_to_the_extractor_in_bounded_groups_with_heartbeats_between():
    # A batch of long sent messages is minutes of language-model work: the
    # scanner hands it over in groups and lets the daemon's watchdog
    # heartbeat run between them.
    from kept.daemon.prepare import MAX_EXTRACT_CHARS, MAX_PROMISE_TEXT_CHARS

    events: list[object] = []

    class Recording(SendPromises):
        def extract_many(self, items):
            items = list(items)
            events.append(sum(len(text) for text, _ in items))
            return super().extract_many(items)

    scanner, store, sources = make()
    scanner._extractor_factory = Recording
    scanner.heartbeat = lambda: events.append("beat")
    body = "I'll send you the article. " + "More words here. " * (MAX_PROMISE_TEXT_CHARS // 17)
    count = 3 * MAX_EXTRACT_CHARS // MAX_PROMISE_TEXT_CHARS
    for n in range(count):
        sources["acct"].add(SENT, raw_mail(f"s{n}", sender=ME, to=f"p{n}@x.org", date=utc(2026, 3, 1, n % 24),
                                           subject=f"Article {n}", body=body))
    result = scanner.scan_all()[0]
    assert result.promises == count
    groups = [event for event in events if isinstance(event, int)]
    assert len(groups) >= 3 and max(groups) <= MAX_EXTRACT_CHARS
    for before, group in zip(events, events[1:]):
        if isinstance(group, int):
            assert before == "beat"


def test_the_users_question_about_an_event_named_elsewhere_ends_with_the_event():
    """The scan reads a sent question's day from the rest of the message; a received one keeps the strict reading."""
    scanner, store, sources = make()
    text = "Is there anything we can do so that Jody can come? The presentation is next Tuesday night.\n"
    sources["acct"].add(SENT, raw_mail("asked", sender=ME, to="bob@x.org", date=utc(2026, 3, 6), subject="OU",
                                       body=text))
    sources["acct"].add(INBOX, raw_mail("theirs", sender="ann@x.org", to=ME, date=utc(2026, 3, 6),
                                        subject="Visit", body=text))
    scanner.scan_all()
    until = {item.message_id: item.asks_until for thread in store.threads() for item in thread.messages}
    assert until["<asked@test>"].isoformat() == "2026-03-10"  # the Tuesday after Friday 6 March
    assert until["<theirs@test>"] is None


def test_small_talk_waits_on_an_answer_only_from_colleagues():
    """"Did you see the games?" to a friend at another domain is conversation; to a colleague, or with a request, it asks."""
    scanner, store, sources = make()
    colleague = ME.rpartition("@")[0] + ".colleague@" + ME.rpartition("@")[2]
    sent = {
        "friend": ("pal@gmail.com", "Did you see the first three games of the series? How's the new job?"),
        "colleague": (colleague, "Did you see the first three games of the series? How's the new job?"),
        "request": ("pal@gmail.com", "How was the trip? Can you send me the photos?"),
        "status": ("lawyer@firm.example", "Did you send the draft letter to the agency?"),
    }
    for mid, (to, body) in sent.items():
        sources["acct"].add(SENT, raw_mail(mid, sender=ME, to=to, date=utc(2026, 3, 6), subject=mid, body=body + "\n"))
    scanner.scan_all()
    asks = {item.message_id: item.asks for thread in store.threads() for item in thread.messages}
    assert asks == {"<friend@test>": False, "<colleague@test>": True, "<request@test>": True, "<status@test>": True}


def test_messages_keep_the_question_the_digest_quotes():
    """A bare "Re:" says nothing: each stored message keeps its question, one line (its body is not kept)."""
    scanner, store, sources = make()
    sources["acct"].add(INBOX, raw_mail("theirs", sender="ann@x.org", to=ME, date=utc(2026, 3, 6), subject="Re:",
                                        body="Good to see you.\nCould you send me\nthe deck? Thanks\n"))
    sources["acct"].add(SENT, raw_mail("mine", sender=ME, to="bob@x.org", date=utc(2026, 3, 6), subject="",
                                       body="Please file this. Can you tell me the price by Friday?\n"))
    sources["acct"].add(SENT, raw_mail("told", sender=ME, to="bob@x.org", date=utc(2026, 3, 7), subject="Notes",
                                       body="Here are the notes.\n"))
    scanner.scan_all()
    question = {mid: store.get_message("acct", mid).question for mid in ("<theirs@test>", "<mine@test>", "<told@test>")}
    assert all(store.get_message("acct", mid).body_text == "" for mid in question)
    assert question == {
        "<theirs@test>": "Could you send me the deck?",
        "<mine@test>": "Can you tell me the price by Friday?",
        "<told@test>": "",
    }


class RecordsSentAt:
    """A stand-in extractor that finds nothing and records the time each text was sent at."""

    def __init__(self):
        self.sent_at = []

    def extract_many(self, items):
        for _text, sent_at in items:
            self.sent_at.append(sent_at)
            yield []


def test_the_users_days_are_read_on_the_users_calendar():
    """18:35 in Houston is 00:35 the next day in UTC: "tomorrow" is read in the configured zone."""
    settings = Settings(path=Path("/dev/null"), addresses=(ME,), database=Path("/dev/null"),
                        timezone="America/Chicago", accounts=(MaildirAccount(name="acct", path=Path("/nonexistent")),))
    source, store, recorder = MemorySource("acct"), MemoryStore(), RecordsSentAt()
    scanner = Scanner(settings, store, extractor_factory=lambda: recorder, source_factory=lambda account: source,
                      now=lambda: NOW)
    source.add(SENT, raw_mail("late", sender=ME, to="bob@x.org", date=utc(2026, 3, 6, 0, 35), subject="Deck",
                              body="I'll call you tomorrow. Are you free for lunch tomorrow?\n"))
    scanner.scan_all()
    [sent_at] = recorder.sent_at
    assert sent_at.date().isoformat() == "2026-03-05" and sent_at.utcoffset() == timedelta(hours=-6)
    [thread] = store.threads()
    assert thread.messages[0].asks_until.isoformat() == "2026-03-06"  # Thursday's "tomorrow", not Friday's


def test_for_a_user_on_free_mail_alone_small_talk_still_asks():
    """With no organisation of their own, nobody is known to be outside it: the rule stays off."""
    settings = Settings(
        path=Path("/dev/null"), addresses=("sam@gmail.com",), database=Path("/dev/null"),
        accounts=(MaildirAccount(name="acct", path=Path("/nonexistent")),),
    )
    source = MemorySource("acct")
    store = MemoryStore()
    scanner = Scanner(settings, store, extractor_factory=SendPromises, source_factory=lambda account: source,
                      now=lambda: NOW)
    source.add(SENT, raw_mail("friend", sender="sam@gmail.com", to="pal@yahoo.com", date=utc(2026, 3, 6),
                              subject="games", body="Did you see the first three games of the series?\n"))
    scanner.scan_all()
    assert [item.asks for thread in store.threads() for item in thread.messages] == [True]
