"""render_digest: the e-mail's structure, escaping of hostile mail, header safety."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage

from bs4 import BeautifulSoup

from kept.digest.build import build_digest
from kept.digest.render import ANSWER_DATES, ANSWER_HELP, render_digest, render_html, render_text
from kept.models import Address, Thread
from kept.storage.memory import MemoryStore
from test_digest_build import NOW, TODAY, filled_store, make_settings, message, promise, received, utc

SCRIPT = "<script>alert(1)</script>"
JS_LINK = "javascript:alert(1)"
IMG = '"><img src=x onerror=alert(1)>'
HOSTILE = f"{SCRIPT} {JS_LINK} {IMG}"

# Tags the HTML template uses; anything else in the output came from mail.
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "div", "span", "strong",
    "h1", "h2", "table", "tr", "td", "a",
}


def hostile_store() -> MemoryStore:
    """Hostile text in a promise sentence, subjects, display names, a note and an error."""
    store = MemoryStore()
    evil = Address(f"Mallory {HOSTILE}", "mallory@example.org")
    me = Address("Sam", "me@example.com")
    store.put_promise(promise("p1", made=utc(10), due=TODAY, sentence=f"I'll send {HOSTILE} tomorrow.",
                              to=("mallory@example.org",)))
    store.put_message(message("<p1@example.com>", me, (evil,), utc(10), f"Hello\r\nBcc: evil@x.org {HOSTILE}",
                              role="sent"))
    store.put_thread(Thread("t1", "home", HOSTILE, (received("<m1@x>", "mallory@example.org", utc(15)),)))
    store.put_message(message("<m1@x>", evil, (me,), utc(15), f"Hello\r\nBcc: evil@x.org {HOSTILE}"))
    store.set_meta("health:work", {"ok": False, "failing_since": "2026-11-20T05:00:00+00:00", "error": HOSTILE})
    return store


def render(store: MemoryStore | None = None, notes: tuple[str, ...] = (), **digest: object) -> EmailMessage:
    settings = make_settings(**digest)
    return render_digest(build_digest(store or filled_store(), NOW, settings, notes), settings)


def parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def test_message_is_multipart_alternative_with_both_parts() -> None:
    message = render()
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    text, html = parts(message)
    assert "[1] \"I'll send you the overdue report.\"" in text
    assert "I&#39;ll send you the overdue report." in html or "I'll send you the overdue report." in html
    assert ANSWER_HELP in text and ANSWER_HELP in html
    # Which days a snooze takes, and where every form is listed (docs/commands.md, Dates).
    assert ANSWER_DATES in text and "docs/commands.md, Dates" in ANSWER_DATES
    assert ANSWER_DATES.replace("'", "&#39;") in html


def test_headers() -> None:
    message = render()
    assert message["From"] == "kept <me@example.com>"
    assert message["To"] == "me@example.com"
    assert message["Subject"] == "4 promises due · 2 undated promises · 2 waiting on you · 2 follow-ups"
    assert message["X-Kept-Digest"] == "2026-11-20"
    assert message["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(r"<kept-digest-20261120-[0-9a-f]{12}@kept\.invalid>", message["Message-ID"])
    assert message["Date"] == "Fri, 20 Nov 2026 07:30:00 +0100"
    assert render()["Message-ID"] != message["Message-ID"]


def test_given_message_id_is_used() -> None:
    settings = make_settings()
    digest = build_digest(filled_store(), NOW, settings)
    message = render_digest(digest, settings, message_id="<kept-digest-20261120-1@kept.invalid>")
    assert message["Message-ID"] == "<kept-digest-20261120-1@kept.invalid>"


def test_digest_to_setting_is_the_recipient() -> None:
    message = render(to="digest@example.net")
    assert message["To"] == "digest@example.net"


def test_html_sections_numbers_and_links() -> None:
    _text, html = parts(render())
    soup = BeautifulSoup(html, "html.parser")
    links = [a["href"] for a in soup.find_all("a")]
    assert len(links) == 2 and all(link.startswith("mailto:") for link in links)
    body_text = soup.get_text(" ", strip=True)
    for title in ("Promises due", "Promises without a date", "Waiting on you", "Waiting on others", "Your reply time"):
        assert title in body_text
    assert "could not reach work since 06:12: connection refused" in body_text
    assert "you usually answer them within 2 h" in body_text
    assert "<a1@x>" in body_text  # the Message-ID to find the original


def test_html_is_phone_and_dark_mode_ready_without_remote_content() -> None:
    _text, html = parts(render())
    assert "max-width:600px" in html
    assert 'name="color-scheme" content="light dark"' in html
    assert "@media (prefers-color-scheme: dark)" in html
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("script") is None and soup.find("img") is None and soup.find("link") is None
    assert "http://" not in html and "https://" not in html


def test_hostile_mail_is_escaped_in_html() -> None:
    message = render(hostile_store(), notes=(f"Could not understand: {HOSTILE}",))
    text, html = parts(message)
    soup = BeautifulSoup(html, "html.parser")
    assert {tag.name for tag in soup.find_all(True)} <= ALLOWED_TAGS
    for tag in soup.find_all(True):
        for name, value in tag.attrs.items():
            assert not name.lower().startswith("on"), (tag.name, name)
            if name == "href":
                assert value.startswith("mailto:")
                assert "javascript:" not in value.lower().split("?")[0]
    lowered = html.lower()
    assert "<script" not in lowered and "<img" not in lowered
    # The hostile text is shown, as text, in every place it was put.
    shown = soup.get_text(" ", strip=True)
    assert shown.count(SCRIPT) >= 4  # sentence, name, subject, note, error
    assert IMG.strip() in shown
    # The plain-text part is text: it may show the characters as they are.
    assert SCRIPT in text


def test_header_injection_from_a_subject_stays_out_of_the_headers() -> None:
    message = render(hostile_store())
    data = message.as_bytes()
    parsed = message_from_bytes(data, policy=policy.default)
    assert parsed["Bcc"] is None
    header_block = data.split(b"\n\n", 1)[0].lower()
    # Header names only: the Message-ID's random hex may spell "bcc".
    names = {line.split(b":", 1)[0] for line in header_block.splitlines() if line[:1] not in (b" ", b"\t")}
    assert b"bcc" not in names
    assert b"evil@x.org" not in header_block


def test_crlf_in_settings_and_message_id_cannot_add_headers() -> None:
    settings = make_settings(to="me@example.com\r\nBcc: evil@x.org")
    digest = build_digest(MemoryStore(), NOW, settings, ["a note"])
    message = render_digest(digest, settings, message_id="<x@kept.invalid>\r\nBcc: evil@x.org")
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed["Bcc"] is None
    assert len(parsed.get_all("To")) == 1


def test_empty_digest_says_nothing_pending() -> None:
    settings = make_settings()
    digest = build_digest(MemoryStore(), NOW, settings)
    assert "Nothing pending. Enjoy your day." in render_text(digest)
    assert "Nothing pending. Enjoy your day." in render_html(digest)
    assert render_digest(digest, settings)["Subject"] == "Nothing pending"


def test_text_part_numbers_items_and_shows_the_holding_reply_link() -> None:
    text = render_text(build_digest(filled_store(), NOW, make_settings()))
    numbers = [int(n) for n in re.findall(r"^\[(\d+)\]", text, flags=re.MULTILINE)]
    assert numbers == list(range(1, 11))
    assert "Holding reply: mailto:anna@example.org?subject=Re%3A%20Budget%20for%20Q1%3F" in text
    assert "YOUR REPLY TIME\nYour median reply time this week: 2 h" in text


def test_overdue_and_soon_wording() -> None:
    text = render_text(build_digest(filled_store(), NOW, make_settings()))
    assert "due Wed 18 Nov · 2 days overdue" in text
    assert "due Fri 20 Nov · due today" in text
    assert "due Sun 22 Nov · due in 2 days" in text
