"""Property tests: parse_message survives arbitrary input, quickly."""

from __future__ import annotations

import time
from datetime import timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kept.extractors.cleaning import clean_body, normalize_subject
from kept.extractors.message import parse_message
from kept.models import MailMessage, RawMessage

# Generous per message on a loaded 2-core machine; typical mail takes ~1 ms.
TIME_LIMIT_SECONDS = 2.0

HEADER_NAMES = ["From", "To", "Cc", "Date", "Subject", "Message-ID", "In-Reply-To", "References",
                "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "List-Id",
                "Auto-Submitted", "MIME-Version"]
HEADER_VALUES = st.one_of(
    st.text(max_size=80),
    st.sampled_from([
        "multipart/mixed; boundary=\"b\"", "multipart/alternative; boundary=b", "text/html; charset=x-unknown",
        "text/plain; charset=\"utf-8\"", "base64", "quoted-printable", "attachment; filename*=utf-8''%ff%fe.ics",
        "=?utf-8?b?////?=", "=?bogus?q?=FF?=", "<a@b> <c@d", "Mon, 99 Foo 2001 25:61:61 +9999",
        "Group: a@b, <c@d>;", "\"\\\"\" <@>", "text/calendar",
    ]),
)


@st.composite
def mime_like(draw) -> bytes:
    """Bytes shaped like mail: plausible headers, then a body with MIME debris."""
    headers = draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), HEADER_VALUES), max_size=10))
    body_parts = draw(st.lists(st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.sampled_from([b"--b\r\n", b"--b--\r\n", b"Content-Type: text/plain\r\n\r\n", b"> quoted\r\n",
                         b"-----Original Message-----\r\n", b"<html><script>x</script><p>hi", b"=\r\n=ZZ",
                         b"\x00\x00", b"?" * 20]),
    ), max_size=12))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("utf-8", "surrogatepass")
    return head + b"\r\n" + b"".join(body_parts)


def check(data: bytes) -> MailMessage:
    started = time.perf_counter()
    record = parse_message(RawMessage(uid="u", data=data), account="a", role="received", folder="INBOX")
    assert time.perf_counter() - started < TIME_LIMIT_SECONDS
    assert record.message_id.startswith("<") and record.message_id.endswith(">")
    assert record.date.tzinfo is not None and record.date.utcoffset() == timezone.utc.utcoffset(None)
    assert "\n" not in record.subject and "\r" not in record.subject
    assert record.size == len(data)
    return record


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise(data):
    check(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mime_like())
def test_mime_shaped_garbage_never_raises(data):
    check(data)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_clean_body_is_total_and_idempotent_on_its_output(text):
    cleaned = clean_body(text)
    assert "\r" not in cleaned
    assert clean_body(cleaned) == cleaned


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_normalize_subject_is_idempotent(subject):
    once = normalize_subject(subject)
    assert normalize_subject(once) == once
