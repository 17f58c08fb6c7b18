"""One person under several addresses; promises made to To, not Cc; names to greet by."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given as given_examples
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from kept.daemon.scan import Scanner
from kept.digest.nudges import build_nudge_sections
from kept.extractors.contacts import contact_summaries
from kept.extractors.message import parse_message
from kept.extractors.people import (
    written_on_behalf,
    People,
    address_name_key,
    build_people,
    build_people_from_parties,
    build_people_from_party_counts,
    canonical_threads,
    first_name_from_address,
    given_name,
    name_key,
)
from kept.digest.people import people_from_store
from kept.extractors.rhythm import contact_histories
from kept.mailboxes.base import Folder
from kept.mailboxes.memory import MemorySource
from kept.models import Address, MailMessage, Promise, RawMessage, Thread, ThreadMessage
from kept.settings import MaildirAccount, Settings, ThreadSettings
from kept.storage.memory import MemoryStore
from tests.helpers import ME, raw_mail, utc
from tests.test_scan import SendPromises

T0 = utc(2026, 1, 5, 9)


def mail(n: int, sender: Address, to: tuple[Address, ...] = (Address("", ME),), cc: tuple[Address, ...] = (),
         when=T0) -> MailMessage:
    return MailMessage(
        account="acct", role="sent" if sender.email == ME else "received", folder="INBOX",
        message_id=f"<m{n}@test>", from_addr=sender, to=to, cc=cc, date=when,
    )


JEFF = Address("Jeff Dasovich", "jeff.dasovich@enron.com")
JEFF_OLD = Address("Dasovich, Jeff", "jdasovic@enron.com")


@pytest.mark.parametrize("name", [
    "Jeff Dasovich", "Dasovich, Jeff", "DASOVICH, JEFF", "Jeff K. Dasovich", "Dasovich, Jeff K. (Houston)",
    '"Jeff Dasovich"', "Jeff Dasovich, Jr.",
])
def test_name_key_reads_the_forms_of_one_name(name):
    assert name_key(name) == ("jeff", "dasovich")


@pytest.mark.parametrize("name", [
    "", "Jeff", "J. Dasovich", "jeff.dasovich@enron.com", "Legal Team", "Earnings.com",
    "</O=ENRON/OU=NA/CN=RECIPIENTS/CN=PALLEN>",
])
def test_name_key_refuses_what_is_not_a_full_name(name):
    assert name_key(name) is None


def test_van_and_suffix_forms():
    assert name_key("Van Hooser, Steve") == name_key("Steve Van Hooser") == ("steve", "hooser")
    assert name_key("Robert W. Huntley, CFP") == ("robert", "huntley")


def test_two_addresses_with_one_display_name_are_one_person():
    messages = [mail(1, JEFF), mail(2, JEFF), mail(3, JEFF_OLD)]
    people = build_people(messages, {ME})
    assert people.of("jdasovic@enron.com") == people.of("jeff.dasovich@enron.com") == "jeff.dasovich@enron.com"
    assert people.name("jdasovic@enron.com") == "Jeff Dasovich"
    assert people.first_name("jdasovic@enron.com") == "Jeff"
    assert people.aliases("jdasovic@enron.com") == ("jeff.dasovich@enron.com", "jdasovic@enron.com")


def test_a_first_name_alone_merges_nobody():
    messages = [mail(1, Address("Jeff", "jeff@a.example")), mail(2, Address("Jeff", "jeff@a.example.org"))]
    assert build_people(messages, {ME}).canonical == {}


def test_a_shared_address_is_never_merged_or_named():
    # An assistant's mailbox that sends for two people.
    desk = "kdesk@enron.com"
    messages = [mail(n, Address("Jeff Dasovich" if n % 2 else "Anna Keller", desk)) for n in range(4)]
    messages.append(mail(9, JEFF))
    people = build_people(messages, {ME})
    assert people.canonical == {}
    assert people.name(desk) == ""


def test_a_name_on_an_unrelated_address_does_not_merge():
    # The local part does not hold the surname: somebody else's address book entry.
    messages = [mail(1, JEFF), mail(2, Address("Jeff Dasovich", "assistant7@enron.com"))]
    assert build_people(messages, {ME}).canonical == {}


def test_other_domains_merge_only_when_written_to_together():
    home = Address("Jeff Dasovich", "jdasovich@home.example")
    apart = build_people([mail(1, JEFF), mail(2, home)], {ME})
    assert apart.canonical == {}
    together = build_people([mail(1, JEFF), mail(2, home), mail(3, Address("", ME), to=(JEFF, home))], {ME})
    assert together.of("jdasovich@home.example") == together.of("jeff.dasovich@enron.com")


def test_an_unnamed_first_last_address_joins_within_its_organisation_only():
    bare = Address("", "jeff.dasovich@ect.enron.com")
    other_org = Address("", "jeff.dasovich@gmail.example")
    people = build_people([mail(1, JEFF_OLD), mail(2, bare), mail(3, other_org)], {ME})
    assert people.of("jeff.dasovich@ect.enron.com") == people.of("jdasovic@enron.com")
    assert people.of("jeff.dasovich@gmail.example") == "jeff.dasovich@gmail.example"


def test_own_addresses_stay_out():
    mine = Address("Jeff Dasovich", "jdasovic@enron.com")
    people = build_people([mail(1, JEFF), mail(2, mine)], {"jdasovic@enron.com"})
    assert people.canonical == {} and people.name("jdasovic@enron.com") == ""


def test_names_read_as_first_last():
    people = build_people([mail(1, Address("ALLEN, PHILLIP", "pallen@enron.com"))], {ME})
    assert people.name("pallen@enron.com") == "Phillip Allen"
    assert people.first_name("pallen@enron.com") == "Phillip"


def test_given_name_and_first_name_from_address():
    assert given_name("Allen, Phillip K.") == given_name("Phillip K Allen") == "Phillip"
    assert given_name("Anna") == "Anna"
    assert given_name("Legal") == given_name("a@b.org") == given_name("J.") == ""
    assert first_name_from_address("phillip.allen@enron.com") == "Phillip"
    assert first_name_from_address("mery.l.brown@accenture.com") == "Mery"
    assert address_name_key("jdasovic@enron.com") is None
    assert first_name_from_address("k..allen@enron.com") == ""
    assert first_name_from_address("enron.announcements@enron.com") == ""


def thread(key: str, *items: ThreadMessage) -> Thread:
    return Thread(key, "acct", "notes", items)


def exchange(n: int, contact: str, when) -> Thread:
    return thread(
        f"t{n}",
        ThreadMessage(f"<in{n}@test>", "received", when, contact, (ME,)),
        ThreadMessage(f"<out{n}@test>", "sent", when + timedelta(hours=3), ME, (contact,)),
    )


def test_histories_and_threads_count_a_person_once():
    people = People(canonical={"jdasovic@enron.com": "jeff.dasovich@enron.com",
                               "jeff.dasovich@enron.com": "jeff.dasovich@enron.com"})
    threads = [exchange(1, "jeff.dasovich@enron.com", T0), exchange(2, "jdasovic@enron.com", T0 + timedelta(days=9))]
    histories = contact_histories(threads, {ME}, people)
    assert list(histories) == ["jeff.dasovich@enron.com"]
    assert histories["jeff.dasovich@enron.com"].two_way_exchanges == 2
    assert set(contact_histories(threads, {ME})) == {"jeff.dasovich@enron.com", "jdasovic@enron.com"}
    mapped = canonical_threads(threads, people)
    assert mapped[1].messages[0].sender == "jeff.dasovich@enron.com"
    assert mapped[1].messages[1].to == ("jeff.dasovich@enron.com",)


def promise(pid: str, *to: str) -> Promise:
    return Promise(
        id=pid, account="acct", message_id=f"<{pid}@test>", thread_key="t1", sentence="I'll send it.",
        action="send it", kind="deliver", counterparties=to, made_at=T0, due=T0.date(),
        due_is_default=False, confidence=0.9, rule_id="r",
    )


def test_contacts_list_one_person_with_aliases_and_all_their_promises():
    people = build_people([mail(1, JEFF), mail(2, JEFF), mail(3, JEFF_OLD)], {ME})
    threads = [exchange(1, "jeff.dasovich@enron.com", T0), exchange(2, "jdasovic@enron.com", T0 + timedelta(days=9))]
    promises = [promise("p1", "jeff.dasovich@enron.com"), promise("p2", "jdasovic@enron.com")]
    now = T0 + timedelta(days=10)
    [row] = contact_summaries(threads, promises, {ME}, ThreadSettings(), now, people)
    assert row.email == "jeff.dasovich@enron.com" and row.name == "Jeff Dasovich"
    assert row.aliases == ("jdasovic@enron.com",)
    assert row.open_promises == ("p1", "p2") and row.messages_received == 2
    assert len(contact_summaries(threads, promises, {ME}, ThreadSettings(), now)) == 2


def store_with(messages: list[MailMessage], threads: list[Thread]) -> MemoryStore:
    store = MemoryStore()
    for message in messages:
        store.put_message(message)
    for t in threads:
        store.put_thread(t)
    return store


def test_keep_in_touch_lists_a_person_once_under_their_name():
    threads = []
    messages = []
    for n in range(4):
        sender = JEFF if n else JEFF_OLD
        when = T0 + timedelta(days=10 * n)
        threads.append(exchange(n, sender.email, when))
        messages.append(MailMessage(account="acct", role="received", folder="INBOX", message_id=f"<in{n}@test>",
                                    from_addr=sender, to=(Address("", ME),), date=when))
    store = store_with(messages, threads)
    assert people_from_store(store, {ME}).of("jdasovic@enron.com") == "jeff.dasovich@enron.com"
    settings = Settings(path=Path("/dev/null"), addresses=(ME,), database=Path("/dev/null"))
    now = T0 + timedelta(days=75)
    counter = iter(range(1, 100))
    sections = build_nudge_sections(store, threads, settings, now, now.date(), utc(2026, 1, 1).tzinfo,
                                    frozenset(), lambda kind, ref: next(counter))
    assert [(c.email, c.name, c.exchanges) for c in sections.keep_in_touch] == [
        ("jeff.dasovich@enron.com", "Jeff Dasovich", 4)]
    muted = build_nudge_sections(store, threads, settings, now, now.date(), utc(2026, 1, 1).tzinfo,
                                 frozenset({"jdasovic@enron.com"}), lambda kind, ref: next(counter))
    assert muted.keep_in_touch == ()


INBOX = Folder("INBOX", "received")
SENT = Folder("Sent", "sent")


@pytest.mark.parametrize(("to", "cc", "expected"), [
    ("anna@x.org", "patti@x.org", ("anna@x.org",)),      # the assistant on Cc gets no promise
    (ME, "bob@x.org", ("bob@x.org",)),                     # To holds only the user: Cc counts
    (f"anna@x.org, {ME}", "", ("anna@x.org",)),
])
def test_a_promise_is_made_to_the_to_recipients(to, cc, expected):
    settings = Settings(path=Path("/dev/null"), addresses=(ME,), database=Path("/dev/null"),
                        accounts=(MaildirAccount(name="acct", path=Path("/nonexistent")),))
    source = MemorySource("acct")
    store = MemoryStore()
    scanner = Scanner(settings, store, extractor_factory=SendPromises, source_factory=lambda account: source,
                      now=lambda: utc(2026, 3, 20))
    source.add(SENT, raw_mail("p", sender=ME, to=to, cc=cc or None, date=utc(2026, 3, 2), subject="Notes",
                              body="I'll send you the notes tomorrow.\n"))
    [result] = scanner.scan_all()
    assert result.error is None
    [stored] = list(store.promises())
    assert stored.counterparties == expected


def test_an_export_sender_name_fills_an_empty_from_name():
    def parsed(x_from: str) -> Address | None:
        data = raw_mail("x", sender="pallen@enron.com", date=T0, headers={"X-From": x_from})
        return parse_message(RawMessage("1", data), account="acct", role="received", folder="INBOX").from_addr

    assert parsed("Allen, Phillip K. </O=ENRON/OU=NA/CN=RECIPIENTS/CN=PALLEN>") == Address(
        "Allen, Phillip K.", "pallen@enron.com")
    assert parsed('"Christina M. Kirby" @ENRON') == Address("Christina M. Kirby", "pallen@enron.com")
    assert parsed("mery.l.brown@accenture.com@ENRON") == Address("", "pallen@enron.com")
    named = raw_mail("y", sender="Anna Keller <anna@x.org>", date=T0, headers={"X-From": "Someone Else"})
    message = parse_message(RawMessage("2", named), account="acct", role="received", folder="INBOX")
    assert message.from_addr == Address("Anna Keller", "anna@x.org")


def test_more_name_forms():
    assert name_key("Nachawati, Nabil, M") == ("nabil", "nachawati")
    assert name_key("Smith, John, Jones") is None
    assert given_name("P. Keith Daigle") == "Keith"
    assert given_name("Franklin, Mary Theresa", "theresa.franklin@enron.com") == "Theresa"
    assert given_name("Franklin, Mary Theresa") == "Mary"
    assert given_name("houston") == given_name("Credit") == given_name("Conf. Room ECN38C2") == ""
    people = build_people([mail(1, Address("Franklin, Mary Theresa", "theresa.franklin@enron.com"))], {ME})
    assert people.name("theresa.franklin@enron.com") == "Mary Theresa Franklin"
    assert people.first_name("theresa.franklin@enron.com") == "Theresa"


def test_last_first_names_read_without_a_bare_middle_initial():
    people = build_people([mail(1, Address("Delainey, David W.", "w..delainey@enron.com"))], {ME})
    assert people.name("w..delainey@enron.com") == "David Delainey"


def test_kept_contacts_shows_one_person_with_aliases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from kept.cli import main

    maildir = tmp_path / "Maildir"
    for folder in (maildir, maildir / ".Sent"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
    pairs = [("Jeff Dasovich <jeff.dasovich@enron.com>", "jeff.dasovich@enron.com"),
             ("Jeff Dasovich <jeff.dasovich@enron.com>", "jeff.dasovich@enron.com"),
             ("\"Dasovich, Jeff\" <jdasovic@enron.com>", "jdasovic@enron.com")]
    for n, (sender, address) in enumerate(pairs):
        when = utc(2026, 3, 2 + 7 * n, 9)
        (maildir / "cur" / f"in{n}:2,S").write_bytes(raw_mail(
            f"in{n}", sender=sender, date=when, subject=f"Plan {n}", body="Can you look at the plan?\n"))
        (maildir / ".Sent" / "cur" / f"out{n}:2,S").write_bytes(raw_mail(
            f"out{n}", sender=ME, to=address, date=when + timedelta(hours=2), subject=f"Re: Plan {n}",
            in_reply_to=f"in{n}", body="Looks good to me.\n"))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[kept]\naddresses = ["{ME}"]\ndatabase = "{tmp_path / "kept.json"}"\n\n'
        f'[accounts.main]\ntype = "maildir"\npath = "{maildir}"\ninbox = ""\nsent = ".Sent"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    tmp_path.chmod(0o700)
    now = "2026-03-30T09:00:00+00:00"
    assert main(["--config", str(config), "--now", now, "scan", "-q"]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "--now", now, "contacts", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["email"], r["name"], r["aliases"], r["sent"]) for r in rows] == [
        ("jeff.dasovich@enron.com", "Jeff Dasovich", ["jdasovic@enron.com"], 3)]


def test_namesakes_told_apart_by_a_middle_initial_stay_apart():
    messages = [mail(1, Address("Williams, Robert C.", "robert.c.williams@enron.com")),
                mail(2, Address("Williams, Robert W.", "robert.williams@enron.com"))]
    assert build_people(messages, {ME}).canonical == {}
    same = [mail(1, Address("Gossett, Jeffrey C.", "c..gossett@enron.com")),
            mail(2, Address("Gossett, Jeffrey C.", "jeffrey.gossett@enron.com")),
            mail(3, Address("Jeffrey Gossett", "jeffrey.c.gossett@enron.com"))]
    people = build_people(same, {ME})
    assert len({people.of(m.from_addr.email) for m in same if m.from_addr}) == 1
    spelled_apart = [mail(1, Address("Robert Williams", "robert.c.williams@enron.com")),
                     mail(2, Address("Robert Williams", "robert.w.williams@enron.com"))]
    assert build_people(spelled_apart, {ME}).canonical == {}


@pytest.mark.parametrize(("text", "expected"), [
    ("Bob,\n\nSally asked me to set up several meetings for next week.", True),
    ("Bob,\n\nSally is out all day w/ UT recruiting function.", True),
    ("Hi,\nFYI, Sally's plans are to be in the office Jan 2 only.", False),   # a possessive, not a subject
    ("Hi,\nSally's assistant will call you.", False),
    ("Hi,\nsally says: send me the rentroll", False),                          # a pasted chat log
    ("Thanks.  --Sally  Can I also see the list?", False),                     # her own sign-off
    ("Sally is right,\nsee below.", False),                                   # the greeting line
    ("Bob,\nI will send it.\n\nSally", False),
    ("Bob,\nSallyanne is out today.", False),
])
def test_written_on_behalf_reads_the_user_in_the_third_person(text: str, expected: bool) -> None:
    assert written_on_behalf(text, ["sally"]) is expected


def test_written_on_behalf_needs_a_name() -> None:
    assert written_on_behalf("Hi,\nMe is out.", []) is False
    assert written_on_behalf("Hi,\nAl is out.", ["al"]) is False


def test_organisations_leave_out_free_mail_and_read_country_domains():
    from kept.extractors.people import organisation, outside_organisations, own_organisations

    assert organisation("jeff@ect.enron.com") == "enron.com"
    assert organisation("ann@news.BBC.co.uk") == "bbc.co.uk"
    assert organisation("bob@example.de") == "example.de"
    mine = own_organisations(["sam@corp.example.com", "sam.rivera@gmail.com"])
    assert mine == frozenset({"example.com"})
    assert not outside_organisations(["pal@gmail.com", "ed@mail.example.com"], mine)
    assert outside_organisations(["pal@gmail.com", "ed@other.org"], mine)
    # a user on free mail alone has no colleagues by address
    assert outside_organisations(["pal@gmail.com"], own_organisations(["sam@gmail.com"]))


# Names and addresses that merge, stay apart, are shared or are the user's own.
_NAMES = st.sampled_from([
    "", "Jeff Dasovich", "Dasovich, Jeff", "Jeff K. Dasovich", "Jeff C. Dasovich", "Ann Lee", "Lee, Ann",
    "Legal Team", "Jeff", "Robert C. Williams", "Robert W. Williams",
])
_EMAILS = st.sampled_from([
    "jeff.dasovich@enron.com", "jdasovic@enron.com", "dasovich@home.org", "jeff.dasovich@ect.enron.com",
    "ann.lee@x.org", "alee@x.org", "legal@enron.com", "robert.williams@enron.com", "rwilliams@enron.com", ME, "",
])
_ADDRESSES = st.builds(Address, _NAMES, _EMAILS)
_PARTIES = st.tuples(
    st.none() | _ADDRESSES,
    st.lists(_ADDRESSES, max_size=3).map(tuple),
    st.lists(_ADDRESSES, max_size=2).map(tuple),
)


@hypothesis_settings(max_examples=300, deadline=None)
@given_examples(st.lists(_PARTIES, max_size=40), st.randoms(use_true_random=False))
def test_counted_parties_give_the_people_of_the_parties_one_by_one(parties, rng):
    counted = list(Counter(parties).items())
    rng.shuffle(counted)  # a store gives them in no set order
    expected = build_people_from_parties(parties, {ME})
    assert build_people_from_party_counts(counted, {ME}) == expected
    # Equal parties may come more than once (one entry per account): their counts add up.
    split = [(entry, part) for entry, count in counted for part in (1, count - 1) if part]
    assert build_people_from_party_counts(split, {ME}) == expected
