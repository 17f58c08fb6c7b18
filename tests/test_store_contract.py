"""The contract every store fulfils (see `kept.storage.base`).

`StoreContract` holds the tests; a subclass per store provides the `store`
fixture and `reopen` (hand back a store over the same data, as a new process
would see it). `TestMemoryStore` is here; the TinyDB store's subclass is in
test_store_tinydb.py. Record serialization is tested here too, since every
store relies on it.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kept.models import Address, Introduction, Lead, MailMessage, Promise, ScanProblem, Thread, ThreadMessage
from kept.storage.base import (
    MAX_SCAN_PROBLEMS,
    SCAN_PROBLEMS_KEY,
    SCHEMA_VERSION,
    Store,
    promise_revision,
    record_scan_problems,
    scan_problems,
)
from kept.storage.memory import MemoryStore, ThreadIndex
from kept.storage.serialize import from_json, to_json

UTC = timezone.utc
T0 = datetime(2001, 5, 14, 9, 30, tzinfo=UTC)


class Boom(Exception):
    """Raised by tests to abort a transaction."""


def make_message(message_id: str = "<m1@example.com>", account: str = "work", **changes) -> MailMessage:
    values = dict(
        account=account,
        role="sent",
        folder="Sent",
        message_id=message_id,
        in_reply_to="<parent@example.com>",
        references=("<root@example.com>", "<parent@example.com>"),
        from_addr=Address("Phillip Allen", "phillip.allen@enron.com"),
        to=(Address("", "john.arnold@enron.com"), Address("Ina Rangel", "ina.rangel@enron.com")),
        cc=(Address("", "jane@example.com"),),
        date=T0,
        subject="Re: gas curves",
        body_text="I'll send you the curves by Friday.",
        has_attachment=True,
        attachment_names=("curves.xls",),
        links=("https://example.com/a",),
        problems=("bad charset",),
        size=1234,
        thread_key="t-1",
    )
    values.update(changes)
    return MailMessage(**values)


def thread_message(message_id: str, minutes: int = 0, role: str = "received") -> ThreadMessage:
    return ThreadMessage(
        message_id=message_id,
        role=role,
        date=T0 + timedelta(minutes=minutes),
        sender="john.arnold@enron.com",
        to=("phillip.allen@enron.com",),
        cc=("jane@example.com",),
        asks=True,
    )


def make_thread(key: str = "t-1", message_ids=("<m1@example.com>",), account: str = "work", **changes) -> Thread:
    messages = tuple(thread_message(mid, minutes=i) for i, mid in enumerate(message_ids))
    values = dict(key=key, account=account, subject="gas curves", messages=messages)
    values.update(changes)
    return Thread(**values)


def make_promise(promise_id: str = "p-1", account: str = "work", made_at: datetime = T0, **changes) -> Promise:
    values = dict(
        id=promise_id,
        account=account,
        message_id="<m1@example.com>",
        thread_key="t-1",
        sentence="I'll send you the curves by Friday.",
        action="send you the curves",
        kind="deliver",
        counterparties=("john.arnold@enron.com",),
        made_at=made_at,
        due=date(2001, 5, 18),
        due_is_default=False,
        confidence=0.85,
        rule_id="deliver-ill-send",
        named_person=None,
        subject="gas curves",
    )
    values.update(changes)
    return Promise(**values)


# -- serialization --------------------------------------------------------

# Mail dates carry whole-minute offsets.
offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
datetimes = st.one_of(st.datetimes(timezones=offsets), st.datetimes())
texts = st.text(max_size=30)
addresses = st.builds(Address, texts, texts)
thread_messages = st.builds(
    ThreadMessage,
    texts,
    st.sampled_from(["sent", "received"]),
    datetimes,
    texts,
    st.lists(texts, max_size=3).map(tuple),
    st.lists(texts, max_size=3).map(tuple),
    st.booleans(),
    st.booleans(),
)


@given(
    st.builds(
        MailMessage,
        account=texts,
        role=st.sampled_from(["sent", "received"]),
        folder=texts,
        message_id=texts,
        in_reply_to=st.none() | texts,
        references=st.lists(texts, max_size=3).map(tuple),
        from_addr=st.none() | addresses,
        to=st.lists(addresses, max_size=3).map(tuple),
        cc=st.lists(addresses, max_size=3).map(tuple),
        date=datetimes,
        subject=texts,
        has_attachment=st.booleans(),
        attachment_names=st.lists(texts, max_size=2).map(tuple),
        links=st.lists(texts, max_size=2).map(tuple),
        automated=st.booleans(),
        calendar_invite=st.booleans(),
        problems=st.lists(texts, max_size=2).map(tuple),
        size=st.integers(min_value=0),
        thread_key=texts,
    )
)
def test_message_round_trip(message):
    assert from_json(MailMessage, to_json(message)) == message


def thread_records(max_messages: int) -> st.SearchStrategy[Thread]:
    """Threads of up to `max_messages` generated messages, in every status."""
    return st.builds(
        Thread,
        key=texts,
        account=texts,
        subject=texts,
        messages=st.lists(thread_messages, max_size=max_messages).map(tuple),
        status=st.sampled_from(["open", "done", "snoozed"]),
        snoozed_until=st.none() | st.dates(),
        done_at=st.none() | datetimes,
    )


@given(thread_records(max_messages=4))
def test_thread_round_trip(thread):
    assert from_json(Thread, to_json(thread)) == thread


@given(
    st.builds(
        Promise,
        id=texts,
        account=texts,
        message_id=texts,
        thread_key=texts,
        sentence=texts,
        action=texts,
        kind=st.sampled_from(["deliver", "call-or-meet", "follow-up", "introduce", "other"]),
        counterparties=st.lists(texts, max_size=3).map(tuple),
        made_at=datetimes,
        due=st.none() | st.dates(),
        due_is_default=st.booleans(),
        confidence=st.floats(min_value=0.0, max_value=1.0),
        rule_id=texts,
        named_person=st.none() | texts,
        status=st.sampled_from(["open", "kept", "done", "dismissed", "snoozed"]),
        evidence=st.none() | texts,
        closed_at=st.none() | datetimes,
        snoozed_until=st.none() | st.dates(),
        subject=texts,
    )
)
def test_promise_round_trip(promise):
    assert from_json(Promise, to_json(promise)) == promise


def make_introduction(intro_id: str = "i-1", account: str = "work", made_at: datetime = T0, **changes) -> Introduction:
    values = dict(
        id=intro_id, account=account, message_id="<intro@example.com>", thread_key="t-9", made_at=made_at,
        people=("anna@example.org", "ben@example.net"), names=("Anna Keller", "ben@example.net"),
        sentence="Anna, meet Ben.", subject="Intro: Anna <> Ben",
    )
    values.update(changes)
    return Introduction(**values)


def make_lead(lead_id: str = "l-1", account: str = "work", received_at: datetime = T0, **changes) -> Lead:
    values = dict(
        id=lead_id, account=account, message_id="<lead@example.com>", thread_key="t-8", received_at=received_at,
        from_email="felix@example.com", from_name="Felix", about="Carla Mendes at Oakridge",
        sentence="You should talk to Carla Mendes at Oakridge.", subject="Carla",
    )
    values.update(changes)
    return Lead(**values)


def test_introduction_and_lead_round_trip():
    intro = make_introduction(status="snoozed", snoozed_until=date(2001, 6, 1))
    assert from_json(Introduction, to_json(intro)) == intro
    assert to_json(intro)["people"] == ["anna@example.org", "ben@example.net"]
    lead = make_lead(thanked_at=T0 + timedelta(days=2), status="done", closed_at=T0 + timedelta(days=40))
    assert from_json(Lead, to_json(lead)) == lead
    assert to_json(lead)["thanked_at"] == "2001-05-16T09:30:00+00:00"


def test_json_shapes():
    document = to_json(make_message())
    assert "body_text" not in document
    assert document["date"] == "2001-05-14T09:30:00+00:00"
    assert document["from_addr"] == {"name": "Phillip Allen", "email": "phillip.allen@enron.com"}
    assert document["references"] == ["<root@example.com>", "<parent@example.com>"]
    promise_document = to_json(make_promise())
    assert promise_document["due"] == "2001-05-18"
    assert promise_document["counterparties"] == ["john.arnold@enron.com"]
    thread_document = to_json(make_thread(message_ids=("<a>", "<b>")))
    assert [m["message_id"] for m in thread_document["messages"]] == ["<a>", "<b>"]


def test_a_thread_message_leaves_out_the_fields_that_hold_their_default():
    when = datetime(2001, 5, 14, 9, 30, tzinfo=timezone.utc)
    plain = ThreadMessage("<a@x>", "received", when, "anna@x.org", to=("me@x.org",))
    assert to_json(plain) == {
        "message_id": "<a@x>", "role": "received", "date": "2001-05-14T09:30:00+00:00",
        "sender": "anna@x.org", "to": ["me@x.org"],
    }
    # As a kept from before wrote it, every field: read the same.
    written_whole = {**to_json(plain), "cc": [], "automated": False, "asks": False, "needs_reply": True,
                     "addressed": [], "asks_until": None}
    assert from_json(ThreadMessage, written_whole) == plain == from_json(ThreadMessage, to_json(plain))
    busy = dataclasses.replace(plain, cc=("b@x.org",), automated=True, needs_reply=False,
                               asks_until=date(2001, 5, 14))
    document = to_json(busy)
    assert {k: document[k] for k in ("to", "cc", "automated", "needs_reply", "asks_until")} == {
        "to": ["me@x.org"], "cc": ["b@x.org"], "automated": True, "needs_reply": False, "asks_until": "2001-05-14",
    }
    assert "asks" not in document and from_json(ThreadMessage, document) == busy


def test_old_documents_load_and_unknown_fields_are_ignored():
    document = to_json(make_promise(status="done"))
    del document["subject"]  # a field added after the document was written
    document["from_the_future"] = 1
    promise = from_json(Promise, document)
    assert promise.subject == "" and promise.status == "done"


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.pop("account"),
        lambda d: d.update(made_at="yesterday"),
        lambda d: d.update(due=17),
        lambda d: d.update(counterparties=None),
    ],
)
def test_broken_documents_raise_value_error(change):
    document = to_json(make_promise())
    change(document)
    with pytest.raises(ValueError):
        from_json(Promise, document)


# The compiled decoders (`serialize._compiled_decoder`) must read every
# document as the plan does: the same record, or the same error.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)


def _read_both(cls, document):
    from kept.storage import serialize

    results = []
    for read in (serialize.from_json, serialize._read_by_plan):
        try:
            results.append(("record", read(cls, document)))
        except ValueError as error:
            results.append(("error", str(error)))
    return results


@given(
    thread_records(max_messages=3),
    st.sets(st.sampled_from(["key", "subject", "messages", "status", "snoozed_until", "done_at", "role", "date"])),
    st.dictionaries(st.sampled_from(["status", "snoozed_until", "done_at", "messages", "other"]), json_values, max_size=2),
)
def test_compiled_decoder_reads_as_the_plan_does(thread, dropped, replaced):
    document = to_json(thread)
    for name in dropped:
        document.pop(name, None)
        for message in document.get("messages", []):
            message.pop(name, None)
    document.update(replaced)
    fast, plan = _read_both(Thread, document)
    assert fast == plan


@pytest.mark.parametrize("document", [None, [], "text", {"key": "k"}, {"key": "k", "account": "a", "subject": 3}])
def test_compiled_decoder_reports_what_the_plan_reports(document):
    fast, plan = _read_both(Thread, document)
    assert fast == plan


def test_compiled_decoder_leaves_defaults_to_the_record():
    document = to_json(make_thread())
    for name in ("messages", "status", "snoozed_until", "done_at"):
        del document[name]
    thread = from_json(Thread, document)
    assert thread.messages == () and thread.status == "open" and thread.done_at is None
    assert type(thread.messages) is tuple


def test_compiled_decoder_shares_repeated_text():
    # 200,000 thread messages held 200,000 copies of "sent" and of each
    # address; equal values now read as one object (`serialize._SHARED_FIELDS`).
    # Through JSON text, as a store reads them: fresh strings each time.
    documents = [json.loads(json.dumps(to_json(make_thread(message_ids=("<a@x>", "<b@x>"))))) for _ in range(2)]
    first, second = (from_json(Thread, document) for document in documents)
    assert first == second
    assert first.account is second.account
    for one, other in zip(first.messages, second.messages, strict=True):
        assert one.role is other.role and one.sender is other.sender
        assert one.to is other.to and all(a is b for a, b in zip(one.to, other.to, strict=True))
        assert one.message_id == other.message_id


@pytest.mark.parametrize("field, value", [("sender", 5), ("to", [1]), ("role", None), ("addressed", "ab")])
def test_compiled_decoder_reads_odd_shared_fields_as_the_plan_does(field, value):
    document = to_json(make_thread())
    document["messages"][0][field] = value
    fast, plan = _read_both(Thread, document)
    assert fast == plan


def test_thread_index_keeps_the_last_thread_for_a_shared_message_id():
    index = ThreadIndex()
    index.add("a", "work", "s", ["<1>", "<2>"])
    index.add("b", "work", "s", ["<2>"])
    assert index.key_for_message("work", "<2>") == "b"
    index.add("b", "work", "s", [])
    assert index.key_for_message("work", "<2>") == "a"
    assert index.key_for_message("home", "<1>") is None


def test_thread_index_discard_and_shared_subjects():
    index = ThreadIndex()
    for key in ("a", "b", "c"):
        index.add(key, "work", "lunch", [f"<{key}>", "<shared>"])
    index.add("b", "work", "lunch", ["<b>", "<shared>", "<b2>"])  # same subject: keeps its place
    assert index.keys_with_subject("work", "lunch") == ["a", "b", "c"]
    assert index.key_for_message("work", "<shared>") == "b"  # entered last
    index.discard("b")
    assert index.keys_with_subject("work", "lunch") == ["a", "c"]
    assert index.key_for_message("work", "<shared>") == "c"
    assert index.key_for_message("work", "<b2>") is None
    index.discard("c")
    index.discard("never entered")
    assert index.keys_with_subject("work", "lunch") == ["a"]
    assert index.key_for_message("work", "<shared>") == "a"
    index.add("a", "home", "dinner", ["<a>"])  # moved to another account and subject
    assert index.keys_with_subject("work", "lunch") == []
    assert index.keys_with_subject("home", "dinner") == ["a"]
    assert index.key_for_message("work", "<a>") is None and index.key_for_message("home", "<a>") == "a"


# -- the contract ---------------------------------------------------------


def assert_party_index_agrees(store: Store, accounts=("work", "home")) -> None:
    """The party index is the multiset of the stored messages' parties, in all and by account."""
    for account in (None, *accounts):
        counted = list(store.party_counts(account))
        assert dict(counted) == Counter(store.message_parties(account)), account
        assert len(counted) == len(dict(counted)) and all(count > 0 for _, count in counted)


class StoreContract:
    """Tests every `Store` must pass. Subclasses provide `store` and `reopen`."""

    @pytest.fixture
    def store(self):
        raise NotImplementedError

    def reopen(self, store):
        """A store over the same data, as the next process would open it."""
        raise NotImplementedError

    def test_implements_the_protocol(self, store):
        assert isinstance(store, Store)

    def test_schema_version_is_recorded(self, store):
        assert store.get_meta("schema_version") == SCHEMA_VERSION

    # messages

    def test_put_and_get_message_drops_the_body(self, store):
        message = make_message()
        assert not store.has_message("work", message.message_id)
        assert store.put_message(message) is True
        store = self.reopen(store)
        assert store.has_message("work", message.message_id)
        assert store.get_message("work", message.message_id) == dataclasses.replace(message, body_text="")

    def test_missing_message(self, store):
        store.put_message(make_message())
        assert store.get_message("work", "<other@example.com>") is None
        assert store.get_message("home", "<m1@example.com>") is None
        assert not store.has_message("home", "<m1@example.com>")

    def test_put_message_is_idempotent_and_replaces(self, store):
        message = make_message()
        assert store.put_message(message) is True
        assert store.put_message(message) is False
        assert store.count_messages() == {"sent": 1, "received": 0}
        changed = dataclasses.replace(message, role="received", subject="Re: changed", thread_key="t-9")
        assert store.put_message(changed) is False
        assert store.get_message("work", message.message_id).subject == "Re: changed"
        assert store.count_messages() == {"sent": 0, "received": 1}

    def test_message_parties_gives_each_messages_addresses_once(self, store):
        first = make_message()
        second = make_message("<m2@example.com>", account="home", from_addr=None, to=(), cc=())
        store.put_message(first)
        store.put_message(second)
        store.put_message(dataclasses.replace(first, cc=()))  # stored anew: its newest addresses count
        store = self.reopen(store)
        assert sorted(store.message_parties(), key=repr) == sorted(
            [(first.from_addr, first.to, ()), (None, (), ())], key=repr
        )
        assert list(store.message_parties("home")) == [(None, (), ())]
        assert list(store.message_parties("nowhere")) == []

    # the party index

    def test_party_counts_count_each_messages_parties(self, store):
        first = make_message("<m1>")
        store.put_message(first)
        store.put_message(make_message("<m2>"))  # the same parties
        store.put_message(make_message("<m3>", cc=()))
        store.put_message(make_message("<m4>", account="home", from_addr=None, to=(), cc=()))
        store.put_message(make_message("<m5>", account="home"))  # parties also found in "work"
        store.put_message(first)  # stored already: not counted again
        store = self.reopen(store)
        parties = (first.from_addr, first.to, first.cc)
        assert sorted(store.party_counts(), key=repr) == sorted(
            [(parties, 3), ((first.from_addr, first.to, ()), 1), ((None, (), ()), 1)], key=repr
        )
        assert sorted(store.party_counts("home"), key=repr) == sorted([(parties, 1), ((None, (), ()), 1)], key=repr)
        assert sorted(store.party_counts("work"), key=repr) == sorted(
            [(parties, 2), ((first.from_addr, first.to, ()), 1)], key=repr
        )
        assert list(store.party_counts("nowhere")) == []
        assert_party_index_agrees(store)

    def test_party_counts_follow_a_replaced_message(self, store):
        message = make_message()
        store.put_message(message)
        store.put_message(dataclasses.replace(message, subject="Re: changed"))  # same parties
        assert list(store.party_counts()) == [((message.from_addr, message.to, message.cc), 1)]
        moved = dataclasses.replace(message, cc=(Address("Ann Lee", "ann@example.com"),))
        assert store.put_message(moved) is False
        store = self.reopen(store)
        assert list(store.party_counts()) == [((moved.from_addr, moved.to, moved.cc), 1)]
        assert_party_index_agrees(store)

    def test_party_counts_roll_back_with_the_messages(self, store):
        kept = make_message("<kept>")
        store.put_message(kept)
        with pytest.raises(Boom), store.transaction():
            store.put_message(make_message("<lost>"))
            store.put_message(dataclasses.replace(kept, to=()))
            raise Boom
        with store.transaction():
            store.put_message(make_message("<outer>", cc=()))
            with pytest.raises(Boom), store.transaction():
                store.put_message(make_message("<inner>", cc=()))
                store.put_message(make_message("<outer>", to=()))
                raise Boom
        store = self.reopen(store)
        assert sorted(store.party_counts(), key=repr) == sorted(
            [((kept.from_addr, kept.to, kept.cc), 1), ((kept.from_addr, kept.to, ()), 1)], key=repr
        )
        assert_party_index_agrees(store)

    def test_party_counts_are_read_when_called(self, store):
        store.put_message(make_message("<m1>"))
        counts = store.party_counts()
        store.put_message(make_message("<m2>", to=()))
        assert [count for _, count in counts] == [1]

    def test_same_message_id_in_two_accounts_is_two_messages(self, store):
        assert store.put_message(make_message(account="work"))
        assert store.put_message(make_message(account="home", role="received"))
        assert store.get_message("home", "<m1@example.com>").role == "received"
        assert store.get_message("work", "<m1@example.com>").role == "sent"

    def test_count_messages(self, store):
        assert store.count_messages() == {"sent": 0, "received": 0}
        for i in range(3):
            store.put_message(make_message(f"<s{i}>", role="sent"))
        for i in range(5):
            store.put_message(make_message(f"<r{i}>", role="received"))
        store.put_message(make_message("<h1>", account="home", role="received"))
        store = self.reopen(store)
        assert store.count_messages() == {"sent": 3, "received": 6}
        assert store.count_messages("work") == {"sent": 3, "received": 5}
        assert store.count_messages("home") == {"sent": 0, "received": 1}
        assert store.count_messages("nobody") == {"sent": 0, "received": 0}

    def test_awkward_text_survives(self, store):
        subject = "Zürich \u2014 \x00 \"quoted\" \\ \ud800 lone surrogate \U0001f600"
        message = make_message('<"odd" id\\@host>', account='acc "1"', subject=subject)
        store.put_message(message)
        store = self.reopen(store)
        assert store.get_message('acc "1"', '<"odd" id\\@host>').subject == subject

    def test_naive_epoch_date_survives(self, store):
        message = make_message(date=datetime(1970, 1, 1))
        store.put_message(message)
        store = self.reopen(store)
        assert store.get_message("work", message.message_id).date == datetime(1970, 1, 1)

    # threads

    def test_put_and_get_thread(self, store):
        thread = make_thread(message_ids=("<a>", "<b>"), status="snoozed", snoozed_until=date(2001, 6, 1))
        assert store.get_thread("t-1") is None
        store.put_thread(thread)
        store = self.reopen(store)
        assert store.get_thread("t-1") == thread

    def test_thread_found_by_every_message_id(self, store):
        store.put_thread(make_thread("t-1", ("<a>", "<b>", "<c>")))
        store.put_thread(make_thread("t-2", ("<d>",)))
        store = self.reopen(store)
        for message_id in ("<a>", "<b>", "<c>"):
            assert store.thread_key_for_message("work", message_id) == "t-1"
        assert store.thread_key_for_message("work", "<d>") == "t-2"
        assert store.thread_key_for_message("work", "<zzz>") is None
        assert store.thread_key_for_message("home", "<a>") is None

    def test_thread_index_follows_new_messages(self, store):
        store.put_thread(make_thread("t-1", ("<a>",)))
        assert store.thread_key_for_message("work", "<b>") is None
        store.put_thread(make_thread("t-1", ("<a>", "<b>")))
        assert store.thread_key_for_message("work", "<b>") == "t-1"
        store = self.reopen(store)
        assert store.thread_key_for_message("work", "<b>") == "t-1"
        assert len(store.get_thread("t-1").messages) == 2

    def test_thread_index_forgets_removed_messages(self, store):
        store.put_thread(make_thread("t-1", ("<a>", "<b>")))
        store.put_thread(make_thread("t-1", ("<a>",)))
        assert store.thread_key_for_message("work", "<b>") is None

    def test_threads_with_subject(self, store):
        store.put_thread(make_thread("t-1", ("<a>",), subject="gas curves"))
        store.put_thread(make_thread("t-2", ("<b>",), subject="gas curves"))
        store.put_thread(make_thread("t-3", ("<c>",), subject="power"))
        store.put_thread(make_thread("t-4", ("<d>",), subject="gas curves", account="home"))
        store = self.reopen(store)
        assert sorted(t.key for t in store.threads_with_subject("work", "gas curves")) == ["t-1", "t-2"]
        assert [t.key for t in store.threads_with_subject("home", "gas curves")] == ["t-4"]
        assert store.threads_with_subject("work", "Gas Curves") == []
        assert store.threads_with_subject("work", "gas curves")[0] == store.get_thread("t-1")

    def test_subject_index_follows_a_changed_subject(self, store):
        store.put_thread(make_thread("t-1", ("<a>",), subject="old"))
        store.put_thread(make_thread("t-1", ("<a>",), subject="new"))
        assert store.threads_with_subject("work", "old") == []
        assert [t.key for t in store.threads_with_subject("work", "new")] == ["t-1"]
        store = self.reopen(store)
        assert store.threads_with_subject("work", "old") == []
        assert [t.subject for t in store.threads_with_subject("work", "new")] == ["new"]

    def test_threads_by_account(self, store):
        store.put_thread(make_thread("t-1", ("<a>",)))
        store.put_thread(make_thread("t-2", ("<b>",), account="home"))
        store.put_thread(make_thread("t-1", ("<a>", "<c>")))  # a replace, not a third thread
        assert sorted(t.key for t in store.threads()) == ["t-1", "t-2"]
        assert [t.key for t in store.threads("home")] == ["t-2"]
        assert list(store.threads("nobody")) == []

    def test_threads_can_be_stored_while_iterating(self, store):
        for i in range(5):
            store.put_thread(make_thread(f"t-{i}", (f"<{i}>",)))
        with store.transaction():
            for thread in store.threads():
                store.put_thread(dataclasses.replace(thread, status="done"))
                store.put_thread(make_thread("new-" + thread.key, ("<new-" + thread.key + ">",)))
        assert sum(1 for t in store.threads() if t.status == "done") == 5
        assert len(list(store.threads())) == 10

    # promises

    def test_put_and_get_promise(self, store):
        promise = make_promise()
        assert store.get_promise("p-1") is None
        assert store.put_promise(promise) is True
        assert store.put_promise(promise) is False
        kept = dataclasses.replace(promise, status="kept", evidence="attachment in <m2>", closed_at=T0 + timedelta(days=1))
        assert store.put_promise(kept) is False
        store = self.reopen(store)
        assert store.get_promise("p-1") == kept
        assert len(list(store.promises())) == 1

    def test_every_change_to_a_promise_gives_a_new_revision(self, store):
        assert promise_revision(store) is None
        promise = make_promise()
        store.put_promise(promise)
        first = promise_revision(store)
        assert first is not None
        store.put_promise(promise)  # the same again: nothing changed
        assert promise_revision(store) == first
        store.put_promise(dataclasses.replace(promise, status="done", closed_at=T0))
        second = promise_revision(store)
        assert second not in (None, first)
        store.put_promise(make_promise("p-2"))
        third = promise_revision(store)
        assert third not in (first, second)
        store = self.reopen(store)
        assert promise_revision(store) == third

    def test_a_promise_put_that_is_rolled_back_leaves_the_revision(self, store):
        store.put_promise(make_promise())
        before = promise_revision(store)
        with pytest.raises(Boom), store.transaction():
            store.put_promise(make_promise("p-2"))
            assert promise_revision(store) != before
            raise Boom
        assert promise_revision(store) == before

    def test_promises_oldest_first_by_account(self, store):
        store.put_promise(make_promise("late", made_at=T0 + timedelta(days=2)))
        store.put_promise(make_promise("early", made_at=T0 - timedelta(days=2)))
        store.put_promise(make_promise("epoch", made_at=datetime(1970, 1, 1)))  # naive: counts as UTC
        store.put_promise(
            make_promise("middle", made_at=datetime(2001, 5, 14, 12, 0, tzinfo=timezone(timedelta(hours=5))))
        )
        store.put_promise(make_promise("other", account="home"))
        store = self.reopen(store)
        assert [p.id for p in store.promises("work")] == ["epoch", "early", "middle", "late"]
        assert [p.id for p in store.promises("home")] == ["other"]
        assert len(list(store.promises())) == 5

    # introductions and leads

    def test_put_and_get_introduction(self, store):
        intro = make_introduction()
        assert store.get_introduction("i-1") is None
        assert store.put_introduction(intro) is True
        assert store.put_introduction(intro) is False
        done = dataclasses.replace(intro, status="done", closed_at=T0 + timedelta(days=8))
        assert store.put_introduction(done) is False
        store = self.reopen(store)
        assert store.get_introduction("i-1") == done
        assert store.get_lead("i-1") is None

    def test_introductions_oldest_first_by_account(self, store):
        store.put_introduction(make_introduction("late", made_at=T0 + timedelta(days=2)))
        store.put_introduction(make_introduction("early", made_at=T0 - timedelta(days=2)))
        store.put_introduction(make_introduction("other", account="home"))
        store = self.reopen(store)
        assert [i.id for i in store.introductions("work")] == ["early", "late"]
        assert [i.id for i in store.introductions()] == ["early", "other", "late"]

    def test_put_and_get_lead(self, store):
        lead = make_lead()
        assert store.get_lead("l-1") is None
        assert store.put_lead(lead) is True
        assert store.put_lead(lead) is False
        thanked = dataclasses.replace(lead, thanked_at=T0 + timedelta(days=1))
        assert store.put_lead(thanked) is False
        store.put_lead(make_lead("older", received_at=T0 - timedelta(days=1), account="home"))
        store = self.reopen(store)
        assert store.get_lead("l-1") == thanked
        assert [lead.id for lead in store.leads()] == ["older", "l-1"]
        assert [lead.id for lead in store.leads("work")] == ["l-1"]

    def test_introductions_and_leads_roll_back(self, store):
        with pytest.raises(Boom), store.transaction():
            store.put_introduction(make_introduction())
            store.put_lead(make_lead())
            raise Boom
        assert store.get_introduction("i-1") is None
        assert list(store.leads()) == []

    # cursors

    def test_cursors(self, store):
        assert store.get_cursor("work", "INBOX") is None
        store.set_cursor("work", "INBOX", {"uidvalidity": 7, "last_uid": 120})
        store.set_cursor("work", "Sent", {"uidvalidity": 7, "last_uid": 9})
        store.set_cursor("home", "INBOX", {"seen": ["a", "b"]})
        store.set_cursor("work", "INBOX", {"uidvalidity": 7, "last_uid": 130})
        store = self.reopen(store)
        assert store.get_cursor("work", "INBOX") == {"uidvalidity": 7, "last_uid": 130}
        assert store.get_cursor("work", "Sent") == {"uidvalidity": 7, "last_uid": 9}
        assert store.get_cursor("home", "INBOX") == {"seen": ["a", "b"]}
        assert store.get_cursor("home", "Sent") is None

    def test_cursor_is_a_copy(self, store):
        cursor = {"seen": ["a"]}
        store.set_cursor("work", "INBOX", cursor)
        cursor["seen"].append("b")
        store.get_cursor("work", "INBOX")["seen"].append("c")
        assert store.get_cursor("work", "INBOX") == {"seen": ["a"]}

    # meta

    def test_meta(self, store):
        assert store.get_meta("last_scan") is None
        assert store.get_meta("last_scan", "never") == "never"
        store.set_meta("last_scan", "2001-05-14T09:30:00+00:00")
        store.set_meta("dismissed", ("I'll try", "I will see"))
        store.set_meta("health", {"work": {"ok": True, "failures": 0}})
        store.set_meta("nothing", None)
        store = self.reopen(store)
        assert store.get_meta("last_scan") == "2001-05-14T09:30:00+00:00"
        assert store.get_meta("dismissed") == ["I'll try", "I will see"]  # as JSON gives it back
        assert store.get_meta("health") == {"work": {"ok": True, "failures": 0}}
        assert store.get_meta("nothing", "default") is None

    def test_scan_problems_are_kept_one_per_message_newest_last(self, store):
        def problem(uid, step="thread", account="work", minutes=0):
            return ScanProblem(account=account, folder="INBOX", uid=uid, message_id=f"<{uid}@x>",
                               step=step, reason=f"ValueError: {step} broke", at=T0 + timedelta(minutes=minutes))

        assert scan_problems(store) == []
        record_scan_problems(store, [problem("1"), problem("2", "parse")])
        record_scan_problems(store, [])
        # Met again (a rebuild): one entry, the newest, moved to the end.
        record_scan_problems(store, [problem("1", "store", minutes=5), problem("1", "store", account="home")])
        store = self.reopen(store)
        assert scan_problems(store) == [problem("2", "parse"), problem("1", "store", minutes=5),
                                        problem("1", "store", account="home")]
        record_scan_problems(store, [problem(str(n)) for n in range(MAX_SCAN_PROBLEMS + 10)])
        kept = scan_problems(store)
        assert len(kept) == MAX_SCAN_PROBLEMS and kept[-1].uid == str(MAX_SCAN_PROBLEMS + 9)

    def test_scan_problems_are_written_with_the_transaction(self, store):
        with pytest.raises(Boom), store.transaction():
            record_scan_problems(store, [ScanProblem("work", "INBOX", "7", "", "parse", "Boom", T0)])
            raise Boom
        assert scan_problems(store) == []

    @pytest.mark.parametrize("value", [5, "x", {"a": 1}, [5, "x", {"account": "work"}, {"uid": 1}]])
    def test_hand_edited_scan_problems_read_as_none(self, store, value):
        store.set_meta(SCAN_PROBLEMS_KEY, value)
        assert scan_problems(store) == []
        record_scan_problems(store, [ScanProblem("work", "INBOX", "7", "", "parse", "Boom", T0)])
        assert [p.uid for p in scan_problems(store)] == ["7"]

    def test_meta_refuses_values_json_cannot_hold(self, store):
        with pytest.raises(TypeError):
            store.set_meta("when", datetime(2001, 1, 1))
        assert store.get_meta("when") is None

    # transactions

    def test_writes_are_visible_inside_the_transaction(self, store):
        with store.transaction():
            store.put_message(make_message())
            store.put_thread(make_thread("t-1", ("<a>",)))
            assert store.has_message("work", "<m1@example.com>")
            assert store.thread_key_for_message("work", "<a>") == "t-1"
        assert store.has_message("work", "<m1@example.com>")

    def test_exception_rolls_everything_back(self, store):
        store.put_message(make_message("<kept>"))
        store.put_thread(make_thread("t-1", ("<a>",), subject="old"))
        store.set_meta("counter", 1)
        with pytest.raises(Boom), store.transaction():
            store.put_message(make_message("<lost>"))
            store.put_message(make_message("<kept>", subject="changed"))
            store.put_thread(make_thread("t-1", ("<a>", "<b>"), subject="new"))
            store.put_thread(make_thread("t-2", ("<c>",)))
            store.put_promise(make_promise())
            store.set_cursor("work", "INBOX", {"last_uid": 5})
            store.set_meta("counter", 2)
            raise Boom
        assert not store.has_message("work", "<lost>")
        assert store.get_message("work", "<kept>").subject == "Re: gas curves"
        assert store.count_messages() == {"sent": 1, "received": 0}
        assert store.get_thread("t-1").subject == "old"
        assert store.get_thread("t-2") is None
        assert store.thread_key_for_message("work", "<b>") is None
        assert store.thread_key_for_message("work", "<c>") is None
        assert [t.key for t in store.threads_with_subject("work", "old")] == ["t-1"]
        assert store.threads_with_subject("work", "new") == []
        assert store.get_promise("p-1") is None
        assert store.get_cursor("work", "INBOX") is None
        assert store.get_meta("counter") == 1
        store = self.reopen(store)
        assert not store.has_message("work", "<lost>")
        assert store.get_meta("counter") == 1

    def test_nested_transactions_join_the_outer_one(self, store):
        with pytest.raises(Boom), store.transaction():
            with store.transaction():
                store.put_message(make_message("<inner>"))
            assert store.has_message("work", "<inner>")
            raise Boom
        assert not store.has_message("work", "<inner>")

    def test_failed_inner_transaction_undoes_only_its_own_writes(self, store):
        store.put_thread(make_thread("t-1", ("<a>",)))
        with store.transaction():
            store.put_message(make_message("<outer>"))
            with pytest.raises(Boom), store.transaction():
                store.put_message(make_message("<inner>"))
                store.put_message(make_message("<outer>", subject="inner change"))
                store.put_thread(make_thread("t-1", ("<a>", "<inner>")))
                store.set_meta("inner", True)
                raise Boom
            assert store.thread_key_for_message("work", "<inner>") is None
            store.put_message(make_message("<after>"))
        store = self.reopen(store)
        assert store.has_message("work", "<outer>")
        assert store.get_message("work", "<outer>").subject == "Re: gas curves"
        assert store.has_message("work", "<after>")
        assert not store.has_message("work", "<inner>")
        assert store.count_messages() == {"sent": 2, "received": 0}
        assert store.get_thread("t-1").messages[-1].message_id == "<a>"
        assert store.thread_key_for_message("work", "<inner>") is None
        assert store.get_meta("inner") is None

    def test_storing_everything_twice_changes_nothing(self, store):
        def scan():
            with store.transaction():
                for i in range(10):
                    store.put_message(make_message(f"<{i}>"))
                store.put_thread(make_thread("t-1", tuple(f"<{i}>" for i in range(10))))
                store.put_promise(make_promise())
                store.set_cursor("work", "Sent", {"last_uid": 10})

        scan()
        before = (store.count_messages(), list(store.threads()), list(store.promises()))
        scan()
        assert (store.count_messages(), list(store.threads()), list(store.promises())) == before

    def test_closed_store_refuses_use(self, store):
        store.close()
        with pytest.raises(RuntimeError):
            store.get_meta("schema_version")


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self):
        store = MemoryStore()
        yield store
        store.close()

    def reopen(self, store):
        return store
