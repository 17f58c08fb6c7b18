"""Small builders shared by tests: mail as bytes and as records."""

from __future__ import annotations

from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from kept.models import Address, MailMessage

# The user. Not at example.com: kept refuses that placeholder as your address.
ME = "me@home.example"


def utc(*args: int) -> datetime:
    """A UTC datetime from year, month, day[, hour, minute]."""
    return datetime(*args, tzinfo=timezone.utc)


def record(
    message_id: str,
    *,
    sender: str,
    to: tuple[str, ...] = (ME,),
    cc: tuple[str, ...] = (),
    date: datetime,
    subject: str = "Hello",
    role: str | None = None,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    automated: bool = False,
    body: str = "",
    account: str = "acct",
) -> MailMessage:
    """A parsed message record, as parse_message would make it."""
    role = role or ("sent" if sender == ME else "received")
    return MailMessage(
        account=account,
        role=role,  # type: ignore[arg-type]
        folder="Sent" if role == "sent" else "INBOX",
        message_id=f"<{message_id}@test>",
        in_reply_to=f"<{in_reply_to}@test>" if in_reply_to else None,
        references=tuple(f"<{r}@test>" for r in references),
        from_addr=Address("", sender),
        to=tuple(Address("", a) for a in to),
        cc=tuple(Address("", a) for a in cc),
        date=date,
        subject=subject,
        body_text=body,
        automated=automated,
    )


def raw_mail(
    message_id: str,
    *,
    sender: str,
    to: str = ME,
    date: datetime,
    subject: str = "Hello",
    body: str = "Hi.\n",
    in_reply_to: str | None = None,
    cc: str | None = None,
    headers: dict[str, str] | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> bytes:
    """An RFC 5322 message as bytes."""
    msg = EmailMessage()
    msg["Message-ID"] = f"<{message_id}@test>"
    msg["Date"] = format_datetime(date)
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}@test>"
        msg["References"] = f"<{in_reply_to}@test>"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if attachment:
        msg.add_attachment(attachment[1], maintype="application", subtype="octet-stream",
                           filename=attachment[0])
    return msg.as_bytes()


def demo_config(folder: Path, lookback_days: int | None = None) -> Path:
    """A private copy of examples/demo-config.toml in `folder`, reading the sample Maildir.

    The database goes to `folder`; `lookback_days` replaces the demo's own.
    """
    root = Path(__file__).resolve().parent.parent
    text = (root / "examples" / "demo-config.toml").read_text(encoding="utf-8")
    text = text.replace('path = "sample-maildir"', f'path = "{root / "examples" / "sample-maildir"}"')
    text = text.replace('database = "../demo-state/kept.json"', f'database = "{folder / "kept.json"}"')
    if lookback_days is not None:
        assert "lookback_days = 30" in text
        text = text.replace("lookback_days = 30", f"lookback_days = {lookback_days}")
    config = folder / "config.toml"
    config.write_text(text, encoding="utf-8")
    config.chmod(0o600)
    return config


#: Keys of a Maildir cursor that say when its folder was last listed
#: (`kept.mailboxes.maildir`), not what was read: two scans of the same mail
#: differ in them (the times, and whether the folder had settled yet).
LISTING_KEYS = ("dirs", "listed_at")


def without_listing(exported_cursor: dict) -> dict:
    """An exported cursor document (``{"account", "folder", "cursor"}``) without its `LISTING_KEYS`."""
    cursor = exported_cursor.get("cursor")
    if not isinstance(cursor, dict):
        return exported_cursor
    return {**exported_cursor, "cursor": {k: v for k, v in cursor.items() if k not in LISTING_KEYS}}
