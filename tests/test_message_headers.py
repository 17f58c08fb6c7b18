"""kept's cached header reading gives the same records as the stdlib's policy.default.

`parse_message(headers="cached")` remembers parsed short headers and reads
bare address lists without the full address grammar; both are only speed.
benchmarks/parse_headers.py compares every Enron message both ways; these
are the odd and hostile cases, made up here.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kept.extractors.message import parse_message
from kept.models import RawMessage

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _both(data: bytes) -> None:
    raw = RawMessage(uid="1", data=data)
    cached = parse_message(raw, account="a", role="received", folder="INBOX", now=NOW, headers="cached")
    default = parse_message(raw, account="a", role="received", folder="INBOX", now=NOW, headers="default")
    assert cached == default


ADDRESS_HEADERS = [
    "a@b.com",
    "a@b.com, c.d@e.org",
    "A.B@Example.COM,c@d.com",
    "a@b.com,\r\n\tc@d.com",
    "a@b.com,",
    ",a@b.com",
    "a@b.com,,c@d.com",
    "a@b.com\x0c, c@d.com",
    "a@b.com\x0b",
    "a@b.com\u2028c@d.com",
    "o'brien@b.com",
    ".a@b.com",
    "a..b@c.com",
    "a@b..com",
    "a@[127.0.0.1]",
    '"a, b"@c.com',
    "Ann <a@b.com>",
    '"Allen, Phillip" <pallen@enron.com>, b@c.com',
    "=?utf-8?q?Ann=2C_Bob?= <a@b.com>",
    "a@b.com (comment), c@d.com",
    "undisclosed-recipients:;",
    "group: a@b.com, c@d.com;",
    "pallen",
    "a@b.com <c@d.com>",
    "a@b.com; c@d.com",
    "a @b.com",
]


@pytest.mark.parametrize("value", ADDRESS_HEADERS)
def test_address_headers_read_the_same_both_ways(value: str) -> None:
    for name in ("From", "To", "Cc"):
        _both(f"{name}: {value}\r\nMessage-ID: <1@x>\r\nDate: Mon, 1 Jan 2001 10:00:00 +0000\r\n\r\nHi\r\n".encode("utf-8", "surrogateescape"))


def test_repeated_content_types_and_subjects_read_the_same_both_ways() -> None:
    parts = "".join(
        f"--b\r\nContent-Type: text/plain; charset=\"{charset}\"\r\nContent-Disposition: {disposition}\r\n\r\nbody {n}\r\n"
        for n, (charset, disposition) in enumerate([("us-ascii", "inline"), ("utf-8", "attachment; filename=\"=?utf-8?q?r=C3=A9sum=C3=A9.txt?=\""), ("bogus", "inline")])
    )
    message = (
        "From: a@b.com\r\nTo: c@d.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nMessage-ID: <2@x>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" + parts + "--b--\r\n"
    ).encode()
    for _ in range(3):  # the second and third reads come from the cache
        _both(message)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(alphabet="ab.@,<>\"'()\\:;[] \t\r\n\x0c=?-_", min_size=0, max_size=30), min_size=1, max_size=4
    )
)
def test_arbitrary_address_headers_read_the_same_both_ways(values: list[str]) -> None:
    headers = "".join(f"{name}: {value}\r\n" for name, value in zip(("From", "To", "Cc", "Subject"), values))
    _both((headers + "Message-ID: <3@x>\r\n\r\nbody\r\n").encode())
