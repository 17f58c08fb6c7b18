"""Hostile mail: bombs, huge bodies, broken charsets, injected headers, control characters.

Every message must parse without raising, within bounded memory (measured
with tracemalloc; the bounds are generous multiples of the size cap, never
wall-clock times), with what was cut off named in ``problems``; and nothing
an attacker controls may carry line breaks, NUL bytes, bidi controls or
undecodable surrogates into records that the digest later shows.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kept.extractors.asks import asks
from kept.extractors.cleaning import clean_body
from kept.extractors.message import MAX_BOUNDARY_LINES, MAX_MULTIPART_HEADERS, parse_message
from kept.extractors.replies import needs_reply
from kept.models import MailMessage, RawMessage

MB = 1_000_000
HEAD = (b"From: Mallory <mallory@example.org>\r\nTo: me@example.com\r\nMessage-ID: <hostile@example.org>\r\n"
        b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n")
# Characters that must never reach a record's one-line fields or fresh text.
FORBIDDEN = ["\x00", "\r", "\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u200f", "\u061c"]


def peak_memory(function: Callable[[], Any]) -> tuple[Any, int]:
    """Run `function`; return its result and the peak of memory it allocated, in bytes."""
    tracemalloc.start()
    try:
        result = function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def parse(data: bytes, **options: Any) -> MailMessage:
    return parse_message(RawMessage(uid="1", data=data), account="a", role="received", folder="INBOX", **options)


def assert_clean(record: MailMessage) -> None:
    fields = [record.subject, record.body_text, *(a.name for a in (record.from_addr, *record.to, *record.cc) if a)]
    for text in fields:
        for character in FORBIDDEN:
            assert character not in text.replace("\n", ""), (character, text[:80])
        text.encode("utf-8")  # no lone surrogates
    assert "\n" not in record.subject


def nested_bomb(depth: int) -> bytes:
    parts = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth))
    return HEAD + b"Subject: nested\r\n" + parts + b"Content-Type: text/plain\r\n\r\nhello\r\n"


def wide_bomb(parts: int) -> bytes:
    body = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(parts))
    return HEAD + b"Subject: wide\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + body + b"--b--\r\n"


def test_deeply_nested_multipart_bomb_is_cut_and_noted() -> None:
    record, peak = peak_memory(lambda: parse(nested_bomb(5_000)))
    assert f"truncated: more than {MAX_MULTIPART_HEADERS} multipart headers" in record.problems
    assert record.message_id == "<hostile@example.org>" and record.subject == "nested"
    assert peak < 50 * MB


def test_multipart_with_tens_of_thousands_of_parts_is_cut_and_noted() -> None:
    record, peak = peak_memory(lambda: parse(wide_bomb(30_000)))
    assert f"truncated: more than {MAX_BOUNDARY_LINES} boundary lines" in record.problems
    assert record.body_text.startswith("part 0")
    assert peak < 100 * MB


@pytest.mark.parametrize("cap", [1 * MB, 10 * MB])
def test_50_mb_body_is_truncated_at_the_cap_with_bounded_memory(cap: int) -> None:
    data = HEAD + b"Subject: big\r\nContent-Type: text/plain\r\n\r\n" + b"I will send it. Meanwhile, more text.\r\n" * 1_300_000
    assert len(data) > 50 * MB
    record, peak = peak_memory(lambda: parse(data, max_bytes=cap))
    assert f"truncated at {cap} bytes" in record.problems
    assert record.size == len(data)
    assert record.body_text.startswith("I will send it.")
    # The stdlib parser keeps a few copies of what it reads; nothing scales with the 50 MB.
    assert peak < 16 * cap + 10 * MB


def test_one_line_of_five_megabytes() -> None:
    data = HEAD + b"Subject: " + b"S" * 2 * MB + b"\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 5 * MB
    record, peak = peak_memory(lambda: parse(data))
    assert len(record.subject) <= 10_000 and len(record.body_text) <= 500_000
    assert "body text truncated" in record.problems
    assert peak < 120 * MB


@pytest.mark.parametrize(
    "header,body",
    [
        (b"Subject: =?x-nonsense?q?abc?=\r\nContent-Type: text/plain; charset=x-nonsense\r\n", b"\xff\xfe body"),
        (b"Subject: =?utf-7?b?////?=\r\nContent-Type: text/plain; charset=utf-7\r\n", b"+ZeVnLIqe-"),
        (b"Subject: =?utf-8?q?=FF=FE?=\r\nContent-Type: text/plain; charset=\"\"\r\n", b"\xc3\x28 bad utf-8"),
        (b"Subject: ok\r\nContent-Type: text/html; charset=../../etc/passwd\r\n", b"<p>hi</p>"),
        (b"Subject: ok\r\nContent-Type: text/plain; charset=utf-16\r\nContent-Transfer-Encoding: base64\r\n",
         b"!!!not base64!!!"),
    ],
)
def test_invalid_charsets_and_encodings_never_raise(header: bytes, body: bytes) -> None:
    record = parse(HEAD + header + b"\r\n" + body)
    assert_clean(record)
    assert record.message_id == "<hostile@example.org>"


def test_header_injection_bidi_and_nul_in_subject_and_names_are_removed() -> None:
    data = (
        b"From: =?utf-8?q?Bob=E2=80=AE=00_evil?= <bob@example.org>\r\n"
        b"To: \"Ann\xe2\x80\xae\x00\" <me@example.com>, =?utf-8?b?4oCuZ25pbmxhdw==?= <c@example.org>\r\n"
        b"Cc: \"J\xc3\xbcrgen\" <j@example.org>\r\n"
        b"Message-ID: <inject@example.org>\r\n"
        b"Subject: =?utf-8?q?Invoice=0D=0ABcc:_victim@example.org=0D=0A=0D=0A=E2=80=AEfdp.exe?= \x00\r\n"
        b"\r\nPlease pay\x00 now \xe2\x80\xae today.\r\n"
    )
    record = parse(data)
    assert_clean(record)
    assert record.subject.startswith("Invoice Bcc: victim@example.org")
    assert record.from_addr is not None and record.from_addr.email == "bob@example.org"
    assert [a.email for a in record.to] == ["me@example.com", "c@example.org"]
    assert record.cc[0].name == "Jürgen"


def test_an_encoded_word_cannot_add_a_recipient() -> None:
    data = HEAD.replace(b"To: me@example.com", b"To: =?utf-8?q?Ann=2C_boss@example.org?= <ann@example.org>")
    record = parse(data + b"Subject: hi\r\n\r\nhi\r\n")
    assert [a.email for a in record.to] == ["ann@example.org"]


def test_extractors_are_total_on_hostile_text() -> None:
    texts = [
        "I\x00 will send \u202eyou the\u2066 report tomorrow.\x00\u200f " * 200,
        "x" * 500_000,
        "? " * 200_000,
        "\ud800 lone surrogate I'll call you",
        "> " * 100_000,
    ]
    for text in texts:
        (cleaned, found_asks, reply), peak = peak_memory(lambda t=text: (clean_body(t), asks(t), needs_reply(t)))
        assert isinstance(found_asks, bool) and isinstance(reply, bool)
        for character in ("\x00", "\u202e", "\u2066", "\u200f"):
            assert character not in cleaned
        assert peak < 100 * MB


@st.composite
def hostile_mail(draw: st.DrawFn) -> bytes:
    """Mail assembled from hostile pieces: nesting, charsets, controls, long lines."""
    depth = draw(st.integers(0, 120))
    charset = draw(st.sampled_from(["utf-8", "x-unknown", "utf-7", "iso-2022-jp", "", "cp1252\x00", "utf-16"]))
    controls = draw(st.text(alphabet="\x00\r\n\u202e\u2066\u200f\u061c\t\x1b", max_size=10))
    word = draw(st.text(max_size=40))
    subject = f"=?utf-8?b?{__import__('base64').b64encode((controls + word).encode('utf-8', 'surrogatepass')).decode()}?="
    nesting = b"".join(b"Content-Type: multipart/mixed; boundary=n%d\r\n\r\n--n%d\r\n" % (i, i) for i in range(depth))
    body = (controls + word).encode("utf-8", "surrogatepass") * draw(st.integers(1, 500))
    encoding = draw(st.sampled_from([b"", b"Content-Transfer-Encoding: base64\r\n",
                                     b"Content-Transfer-Encoding: quoted-printable\r\n"]))
    return (HEAD + f"Subject: {subject}\r\n".encode() + nesting
            + f"Content-Type: text/plain; charset=\"{charset}\"\r\n".encode("utf-8", "replace")
            + encoding + b"\r\n" + body)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_mail())
def test_hostile_mail_never_raises_and_leaves_clean_records(data: bytes) -> None:
    record, peak = peak_memory(lambda: parse(data, max_bytes=200_000))
    assert_clean(record)
    assert record.message_id == "<hostile@example.org>"
    assert peak < 50 * MB


def test_raw_invalid_bytes_in_a_subject_leave_no_surrogates() -> None:
    """Found by benchmarks/fuzz_parser.py: 0xFF bytes in a Subject came back as lone surrogates."""
    record = parse(HEAD + b"Subject: =?utf-8?q\xff\xff?Presupuesto_a=C3=B1o?=\r\n\r\nhi\r\n")
    assert_clean(record)
    assert "Presupuesto" in record.subject
