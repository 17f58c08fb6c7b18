"""Whether a parsed message forwards earlier mail (MailMessage.forwarded)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from kept.extractors.message import is_forward, parse_message
from kept.models import RawMessage

LOTUS = (
    "Please approve.\n"
    "---------------------- Forwarded by Sally Beck/HOU/ECT on 03/30/2001 03:49 PM ---------------------------\n"
    "\ntrainingorders@vertical.net on 03/30/2001 11:13:11 AM\nTo:\tsally.beck@enron.com\nSubject:\tCourse\n"
)
OUTLOOK = "FYI\n\n -----Original Message-----\nFrom: \tKim Ward\nSent:\tMonday\nTo:\tGerald\nSubject:\tLOU\n\nHi."
LOTUS_REPLY = (
    "Sounds good.\n\n\n\nJane Doe@ENRON on 10/02/2000 09:12:40 AM\nTo: Sally Beck/HOU/ECT@ECT\n"
    "Subject: Re: x\n\n---------------------- Forwarded by Jane Doe/HOU/ECT on 10/01/2000 ----\nold\n"
)


@pytest.mark.parametrize(
    ("subject", "text", "expected"),
    [
        ("Course Registration", LOTUS, True),
        ("FW: Revised LOU", OUTLOOK, True),
        ("Fwd: Revised LOU", OUTLOOK, True),
        ("RE: Revised LOU", OUTLOOK, False),
        ("Re: FW: Revised LOU", OUTLOOK, False),
        ("Re: x", LOTUS_REPLY, False),
        ("FW: nothing below", "Just the subject says so.", False),
    ],
    ids=["lotus", "fw", "fwd", "reply", "reply-to-forward", "lotus-reply-quoting-a-forward", "fw-without-mail"],
)
def test_is_forward(subject: str, text: str, expected: bool) -> None:
    assert is_forward(subject, text) is expected


def test_an_attached_message_is_a_forward() -> None:
    inner = EmailMessage()
    inner["Subject"] = "storage"
    inner.set_content("old mail\n")
    outer = EmailMessage()
    outer["Message-ID"] = "<f@test>"
    outer["From"] = "me@example.com"
    outer["To"] = "anna@x.org"
    outer["Subject"] = "see below"
    outer.set_content("Here you go.\n")
    outer.add_attachment(inner)
    parsed = parse_message(RawMessage("1", outer.as_bytes()), account="a", role="sent", folder="Sent")
    assert parsed.forwarded
    plain = parse_message(RawMessage("2", b"Subject: hi\nMessage-ID: <p@test>\n\nHello.\n"),
                          account="a", role="sent", folder="Sent")
    assert not plain.forwarded


def test_a_huge_body_is_read_in_bounded_time() -> None:
    assert not is_forward("FW: x", "a" * 500 + "\n" + "word\n" * 200_000)
