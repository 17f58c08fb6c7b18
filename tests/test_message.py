"""Tests for kept.extractors.message: parse_message and is_automated."""

from __future__ import annotations

import base64
import email
import email.policy
import logging
import time
from datetime import datetime, timezone

import pytest

from kept.extractors.message import EPOCH, is_automated, parse_message
from kept.models import Address, RawMessage


def parse(data: bytes | str, *, internal_date: datetime | None = None, role: str = "received", **kwargs):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return parse_message(
        RawMessage(uid="1", data=data, internal_date=internal_date),
        account="work",
        role=role,
        folder="INBOX",
        **kwargs,
    )


SIMPLE = (
    "Message-ID: <abc.123@example.com>\r\n"
    "Date: Wed, 14 Nov 2001 14:09:44 -0800 (PST)\r\n"
    "From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <Juergen@Example.COM>\r\n"
    'To: "Roe, Jane" <jane@example.com>, bob@example.org\r\n'
    "Cc: Team: carol@example.com, dave@example.com;\r\n"
    "In-Reply-To: <parent@example.com>\r\n"
    "References: <root@example.com> <parent@example.com>\r\n"
    "Subject: =?utf-8?b?UmU6IETDvHNzZWxkb3Jm?=\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "Jane,\r\n\r\nCan you send the report? See https://example.com/r?id=1.\r\n\r\n"
    "> old quoted text http://old.example.com/\r\n"
)


def test_simple_message_fields():
    record = parse(SIMPLE, role="sent")
    assert record.account == "work" and record.role == "sent" and record.folder == "INBOX"
    assert record.message_id == "<abc.123@example.com>"
    assert record.in_reply_to == "<parent@example.com>"
    assert record.references == ("<root@example.com>", "<parent@example.com>")
    assert record.from_addr == Address("Jürgen Müller", "juergen@example.com")
    assert record.to == (Address("Roe, Jane", "jane@example.com"), Address("", "bob@example.org"))
    assert record.cc == (Address("", "carol@example.com"), Address("", "dave@example.com"))
    assert record.date == datetime(2001, 11, 14, 22, 9, 44, tzinfo=timezone.utc)
    assert record.subject == "Re: Düsseldorf"
    assert record.body_text == "Jane,\n\nCan you send the report? See https://example.com/r?id=1."
    assert record.links == ("https://example.com/r?id=1",)
    assert not record.automated and not record.has_attachment and not record.calendar_invite
    assert record.problems == ()
    assert record.size == len(SIMPLE.encode())


def test_missing_headers_get_fallbacks_and_problems():
    data = b"\r\nJust a body.\r\n"
    record = parse(data)
    assert record.message_id.endswith("@kept.invalid>") and len(record.message_id) == 2 + 40 + len("@kept.invalid")
    assert record.message_id == parse(data).message_id  # stable for the same bytes
    assert record.date == EPOCH
    assert record.from_addr is None
    assert record.body_text == "Just a body."
    assert {"no Message-ID header", "no Date header", "no readable From header"} <= set(record.problems)


def test_bad_date_falls_back_to_internal_date():
    internal = datetime(2020, 5, 1, 12, 0, tzinfo=timezone.utc)
    record = parse("Date: yesterday-ish\r\nFrom: a@b.c\r\n\r\nx", internal_date=internal)
    assert record.date == internal
    assert "unreadable Date header" in record.problems


@pytest.mark.parametrize("header", [
    "Fri, 31 Dec 9999 23:59:59 +0000",  # overflows as soon as a time zone is added
    "Fri, 31 Dec 9999 23:59:59 -1200",  # overflows on the way to UTC
    "Thu, 1 Jan 1970 00:00:00 +0000",
    "Mon, 1 Jan 2035 09:00:00 +0000",  # years after both the clock and its arrival
])
def test_absurd_date_takes_the_arrival_time(header):
    arrived = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    now = datetime(2026, 3, 20, tzinfo=timezone.utc)
    record = parse(f"Date: {header}\r\nFrom: a@b.c\r\n\r\nx", internal_date=arrived, now=now)
    assert record.date == arrived
    assert any(p.startswith(("unreadable Date header", "implausible Date header (")) for p in record.problems)


def test_a_date_a_little_ahead_of_the_clock_is_kept():
    # Senders' clocks run fast; a day or so is a skewed clock, not an absurd date.
    now = datetime(2026, 3, 20, tzinfo=timezone.utc)
    record = parse("Date: Fri, 20 Mar 2026 20:00:00 +0000\r\n\r\nx", now=now)
    assert record.date == datetime(2026, 3, 20, 20, 0, tzinfo=timezone.utc)
    # Replaying an old mailbox: mail newer than the replayed clock, but no newer than its files, keeps its date.
    record = parse("Date: Fri, 1 Jun 2001 10:00:00 +0000\r\n\r\nx", now=datetime(2001, 1, 1, tzinfo=timezone.utc),
                   internal_date=datetime(2026, 12, 5, tzinfo=timezone.utc))
    assert record.date == datetime(2001, 6, 1, 10, 0, tzinfo=timezone.utc)


def test_the_arrival_time_is_never_later_than_the_clock():
    # A Maildir copied today, replayed with --now in 2001: not today's date.
    copied = datetime(2026, 12, 5, 11, 0, tzinfo=timezone.utc)
    replayed = datetime(2001, 6, 1, 8, 0, tzinfo=timezone.utc)
    assert parse("Date: garbage\r\n\r\nx", internal_date=copied, now=replayed).date == replayed
    assert parse("\r\nno date at all", internal_date=copied, now=replayed).date == replayed
    # An absurd arrival time is no better than none.
    assert parse("Date: garbage\r\n\r\nx", internal_date=datetime(1, 1, 1, tzinfo=timezone.utc), now=replayed).date == EPOCH


def test_naive_date_is_taken_as_utc():
    record = parse("Date: Wed, 14 Nov 2001 14:09:44 -0000\r\n\r\nx")
    assert record.date == datetime(2001, 11, 14, 14, 9, 44, tzinfo=timezone.utc)


def test_message_id_without_brackets_is_normalized():
    assert parse("Message-ID: abc@host\r\n\r\nx").message_id == "<abc@host>"


def test_enron_ascii_alias_charset_and_quoted_printable():
    data = (
        b"Content-Type: text/plain; charset=ANSI_X3.4-1968\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Did you get a copy of this?  It looks as if our=20\r\nbalances were lo=\r\nw.\r\n"
    )
    record = parse(data)
    assert record.body_text == "Did you get a copy of this?  It looks as if our\nbalances were low."
    assert not any("charset" in p for p in record.problems)


def test_unknown_charset_decodes_with_fallback():
    data = "Content-Type: text/plain; charset=x-foo\r\n\r\nCafé crème".encode("utf-8")
    record = parse(data)
    assert record.body_text == "Café crème"
    assert "undecodable charset x-foo" in record.problems


def test_wrong_charset_falls_back_to_cp1252():
    data = b"Content-Type: text/plain; charset=utf-8\r\n\r\nIt\x92s done \x96 really"
    assert parse(data).body_text == "It\u2019s done \u2013 really"


def test_bad_base64_does_not_raise():
    data = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8gd29ybGQ=!!!@@@not base64\r\n"
    record = parse(data)
    assert isinstance(record.body_text, str)


def test_html_only_body_is_converted():
    data = (
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
        "<html><body><script>evil()</script><p>Could you call me?</p>"
        "<blockquote>old question</blockquote></body></html>"
    )
    record = parse(data)
    assert record.body_text == "Could you call me?"


def test_plain_part_is_preferred_over_html():
    data = (
        'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nplain version\r\n"
        "--b--\r\n"
    )
    assert parse(data).body_text == "plain version"


def test_attachments_and_calendar_invites():
    data = (
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        '--b\r\nContent-Type: application/pdf; name="report.pdf"\r\n'
        'Content-Disposition: attachment; filename="report.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"%PDF-1.4").decode() + "\r\n"
        '--b\r\nContent-Type: text/calendar; method=REQUEST; name="invite.ics"\r\n\r\n'
        "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
        "--b--\r\n"
    )
    record = parse(data)
    assert record.body_text == "See attached."
    assert record.has_attachment
    assert record.attachment_names == ("report.pdf", "invite.ics")
    assert record.calendar_invite


def test_enron_file_marker_counts_as_attachment():
    record = parse("From: a@b.c\r\n\r\nThe flyer.\r\n\r\n - flyer.doc << File: flyer.doc >> \r\n")
    assert record.has_attachment and record.attachment_names == ("flyer.doc",)


def test_links_deduplicated_in_order_from_fresh_text_only():
    body = "See http://a.example/x, https://b.example/y and http://a.example/x.\n> http://quoted.example/\n"
    assert parse("\r\n" + body).links == ("http://a.example/x", "https://b.example/y")


def test_subject_is_one_line_without_control_or_bidi_characters():
    record = parse("Subject: Invoice\u202e fdp.exe\x07\r\n  continued\r\n\r\nx".encode())
    assert record.subject == "Invoice fdp.exe continued"


def test_header_injection_in_display_name_is_neutralised():
    data = b'From: "Evil\\r\\nBcc: victim@example.com" <evil@example.com>\r\nTo: "a\x00b\rc" <x@example.com>\r\n\r\nx'
    record = parse(data)
    assert record.from_addr is not None and record.from_addr.email == "evil@example.com"
    for address in (record.from_addr, *record.to):
        assert "\r" not in address.name and "\n" not in address.name and "\x00" not in address.name


def test_garbage_and_group_address_headers():
    record = parse("From: <<<@@@>>>\r\nTo: undisclosed-recipients:;\r\nCc: ,,,\r\n\r\nx")
    assert record.to == ()
    assert record.cc == ()
    assert all(" " not in a.email for a in (record.from_addr,) if a)


def test_null_bytes_do_not_break_parsing():
    record = parse(b"From: a@b.c\r\nSubject: x\x00y\r\n\r\nhello\x00 world")
    assert record.subject == "xy"
    assert record.body_text == "hello world"


def test_truncation_above_max_bytes_is_noted():
    data = b"From: a@b.c\r\n\r\n" + b"word " * 1000
    record = parse(data, max_bytes=100)
    assert record.size == len(data)
    assert "truncated at 100 bytes" in record.problems
    assert len(record.body_text) < 100


def test_five_megabyte_line_is_fast():
    data = b"From: a@b.c\r\n\r\n" + b"a" * 5_000_000
    started = time.perf_counter()
    record = parse(data)
    assert time.perf_counter() - started < 10
    assert record.body_text.startswith("aaa")


def nested_multipart(levels: int) -> bytes:
    lines = ["From: a@b.c", 'Content-Type: multipart/mixed; boundary="b0"', ""]
    for level in range(1, levels):
        lines += [f"--b{level - 1}", f'Content-Type: multipart/mixed; boundary="b{level}"', ""]
    lines += [f"--b{levels - 1}", "Content-Type: text/plain", "", "deep text"]
    for level in range(levels - 1, -1, -1):
        lines.append(f"--b{level}--")
    return "\r\n".join(lines).encode()


def test_two_hundred_levels_of_multipart_are_bounded():
    started = time.perf_counter()
    record = parse(nested_multipart(200))
    assert time.perf_counter() - started < 10
    assert any(p.startswith("too deep") for p in record.problems)
    assert record.body_text == ""


def test_shallow_nesting_is_read():
    assert parse(nested_multipart(5)).body_text == "deep text"


def test_lost_line_breaks_are_repaired():
    data = (
        b"Content-Type: text/plain; charset=ANSI_X3.4-1968\r\n\r\n"
        b"Thanks for the note.  I will ?call you on ?Monday.  --Sally ???"
        b"Jane Doe@ENRON on 07/17/2000 12:02:10 PM?To: Sally?Subject: PRC??Can you help?"
    )
    record = parse(data)
    assert record.body_text == "Thanks for the note.  I will\ncall you on\nMonday.  --Sally"


def test_real_question_marks_are_not_taken_for_lost_breaks():
    body = "Can you come? Will you call? Is it done? See https://x.example/?a=1&b=2"
    assert parse("\r\n" + body).body_text == body


def test_problems_are_logged_once_with_message_id_and_never_the_body(caplog):
    caplog.set_level(logging.DEBUG, logger="kept.extractors.message")
    parse(b"Message-ID: <p@x>\r\n\r\nsecret body words")
    records = [r for r in caplog.records if r.name == "kept.extractors.message"]
    assert len(records) == 1
    assert "<p@x>" in records[0].getMessage()
    assert "secret" not in records[0].getMessage()


def msg(headers: str) -> email.message.Message:
    return email.message_from_string(headers + "\n\nbody", policy=email.policy.default)


@pytest.mark.parametrize(
    "headers",
    [
        "List-Id: <dev.lists.example.com>",
        "List-Unsubscribe: <mailto:u@example.com>",
        "Precedence: bulk",
        "Precedence: list",
        "Precedence: junk",
        "Auto-Submitted: auto-replied",
        "Auto-Submitted: auto-generated",
        "X-Autoreply: yes",
        "X-Autorespond: yes",
        "Subject: Out of Office: back Monday",
        "Subject: Automatic reply: budget",
        "Subject: Abwesenheitsnotiz: Urlaub",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="x"',
    ],
)
def test_automated_by_headers(headers):
    assert is_automated(msg(headers), "person@example.com")


@pytest.mark.parametrize(
    "sender",
    ["noreply@example.com", "no-reply@example.com", "do-not-reply@x.com", "DoNotReply@x.com",
     "mailer-daemon@x.com", "postmaster@x.com", "bounces+123@x.com", "billing-noreply@x.com"],
)
def test_automated_by_sender(sender):
    assert is_automated(msg("Subject: hello"), sender)


@pytest.mark.parametrize(
    "headers",
    ["Subject: Re: office move", "Auto-Submitted: no", "Precedence: normal", "Subject: replying to Bob"],
)
def test_person_mail_is_not_automated(headers):
    assert not is_automated(msg(headers), "jane.bounceback@example.com")


def test_parse_message_marks_mailing_list_mail():
    assert parse("From: Dev List <dev@lists.example.com>\r\nList-Id: <dev>\r\n\r\nx").automated


def test_misspelled_windows_charset_is_decoded_in_subject_and_body():
    from kept.extractors.message import parse_message as parse
    from kept.models import RawMessage as Raw

    raw = (b"From: a@b.example\r\nSubject: =?win-1252?q?Caf=E9?= au lait\r\n"
           b"Content-Type: text/plain; charset=win-1252\r\n\r\nCaf\xe9 ok\r\n")
    message = parse(Raw("1", raw), account="a", role="received", folder="INBOX")
    assert message.subject == "Café au lait"
    assert message.body_text.strip() == "Café ok"
    assert not any("charset" in p for p in message.problems)


# -- bulk mail read from the body (issue #14: newsletters without List-* headers)


@pytest.mark.parametrize(
    "sender",
    ["subscriptions@intelligencepress.com", "anchordesk_daily@x.com", "exclusive_offers@sportsline.com",
     "enron_update@concureworkplace.com", "energy_list@spencerstuart.com", "info@mastio.com",
     "customer.care@dynegy.com", "announcements.enron@enron.com", "iwon@info.iwon.com", "help@lawfirm.com",
     "software@mail02.unitedmarketingstrategies.com", "anchordesk@anchordesk.zdlists.com"],
)
def test_automated_by_mass_mailer_sender_or_domain(sender):
    assert is_automated(msg("Subject: hello"), sender)


@pytest.mark.parametrize(
    "sender",
    ["kim.mayers@mail.sprint.com", "hollyw@email.msn.com", "bob.listerman@x.com",
     "tom@specialists.com", "john.daily@x.com", "ann.list@x.com"],
)
def test_people_at_ordinary_hosts_are_not_automated(sender):
    assert not is_automated(msg("Subject: hello"), sender)


def _mail_with_body(body: str, role: str = "received", sender: str = "Jane Roe <jane@example.com>"):
    return parse(
        f"From: {sender}\r\nTo: me@example.com\r\nSubject: News\r\nMessage-ID: <n@x>\r\n\r\n{body}",
        role=role,
    )


@pytest.mark.parametrize(
    "body",
    [
        "Gas prices fell.\r\n\r\nIf you would like to stop receiving e-mail notifications, please reply to "
        "this message with REMOVE E-MAIL in the subject line.",
        "Big sale!\r\n\r\nTo unsubscribe from one or more email categories, please click below.",
        "Conference on LNG.\r\n\r\nIf you wish to be removed from our mailing list, reply with \"Remove\".",
        "PLEASE DO NOT RESPOND TO THIS E-MAIL--THIS ACCOUNT IS NOT MONITORED\r\n\r\nAttached is the proposal.",
        "You received this email because you registered at iWon.",
        "This e-mail is automated notification of the availability of your newsletter.",
        "We'd like you to fill out this survey about our programs.",
        "[IMAGE] [IMAGE] Spin to win! [IMAGE] Click here to play.",
        " ".join(f"http://shop.example.com/item{i}" for i in range(8)),
        "=== THE MOTLEY FOOL ===\r\n\r\nIN THIS ISSUE\r\n---\r\n- Q&A: Should I Invest in REITs?\r\n",
        "Weekly gas report\r\n\r\nSponsored by: Kaplan College\r\n\r\nPrices fell.",
    ],
)
def test_bulk_body_marks_received_mail_automated(body):
    assert _mail_with_body(body).automated


@pytest.mark.parametrize(
    "body",
    [
        "Direct-access customers may opt out of the program by June.",
        "The gas will be removed from the pipeline on Monday.",
        "Can you send me the survey results from last week?",
        "See http://a.example.com/1 and http://a.example.com/2 for the two drafts.",
        "Please click here: http://intranet/x",
        "In this issue of the contract the price is fixed. Can you check it?",
    ],
)
def test_business_talk_is_not_bulk(body):
    assert not _mail_with_body(body).automated


def test_an_html_page_in_a_plain_text_part_is_read_as_html():
    """Marketing mail of old archives: a text/plain part that is an HTML page, markup and all."""
    body = (
        "<html>\r\n<head><style type=\"text/css\">a:hover { text-decoration: underline }</style>"
        "<title>Derivatives Class</title></head>\r\n<body><table><tr><td><font face=\"Arial\">"
        "Energy Consumers and Producers: register today.</font></td></tr></table></body></html>\r\n"
    )
    text = _mail_with_body(body).body_text
    assert "Energy Consumers and Producers" in text
    assert "<" not in text and "text-decoration" not in text


def test_bulk_body_does_not_mark_the_users_own_mail():
    sent = _mail_with_body("Please unsubscribe me from this list.", role="sent")
    assert not sent.automated
