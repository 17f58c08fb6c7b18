"""`kept forget` leaves no trace of the person in any file kept wrote (issue 18 #7).

A small Maildir in which one person, with a name and an address, appears in
every role kept records: sender, recipient, Cc, the one a promise is made to,
a name in someone else's promise, a digest (planned, its sending failed)
and the notes for the next one, a keep-in-touch decision, a scan problem
and the copy ``kept rebuild`` set aside. After ``kept forget`` every file
under the folders kept writes to is searched, as bytes, for the name and the
address in any case, as written and as JSON escapes them.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import kept.daemon.prepare as prepare_module
from kept.cli import main

from tests.helpers import ME, raw_mail, utc

NOW = "2026-03-18T08:00:00+00:00"
NAME = "Zoë Quintrell"
ADDRESS = "zora.quintrell@example.org"
PERSON = f"{NAME} <{ADDRESS}>"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def forms(text: str) -> list[bytes]:
    """`text` as it may sit in a file: UTF-8, and JSON's ASCII escapes; lower-cased."""
    return sorted({text.lower().encode("utf-8"), json.dumps(text.lower())[1:-1].encode("ascii")})


def traces(root: Path) -> list[str]:
    """Every file under `root` holding the name or the address (any case), with what it holds."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes().lower()
        for needle in (*forms(NAME), *forms(ADDRESS)):
            if needle in data:
                found.append(f"{path.relative_to(root)}: {needle.decode('ascii', 'replace')}")
    return found


def digest_texts(meta: dict[str, Any]) -> str:
    """The planned digests in meta (``digest_outbox*``), decoded to their text parts."""
    texts = []
    for key, plan in meta.items():
        if key.startswith("digest_outbox") and isinstance(plan, dict):
            message = email.message_from_bytes(base64.b64decode(plan["message"]), policy=email.policy.default)
            texts += [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
            texts += [str(note) for note in plan.get("notes", [])]
    return "\n".join(texts)


def export(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["--config", str(config), "export"]) == 0
    return json.loads(capsys.readouterr().out)


def number_of(sent_digests: dict[str, Any], kind: str, ref: str) -> int:
    [record] = sent_digests.values()
    return next(int(number) for number, item_kind, item_ref in record["index"] if (item_kind, item_ref) == (kind, ref))


def test_forget_leaves_no_trace_in_any_file_kept_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"  # where kept writes: the database folder and the XDG folders
    for variable, folder in (("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(variable, str(home / folder))
    maildir = tmp_path / "Maildir"
    for part in ("cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Sent/tmp"):
        (maildir / part).mkdir(parents=True)
    mails = [
        ("", raw_mail("z1", sender=PERSON, date=utc(2026, 3, 10), subject="Budget",
                      body="Could you send me the budget figures?\n")),
        (".Sent", raw_mail("z2", sender=ME, to=PERSON, date=utc(2026, 3, 11), subject="Re: Budget",
                           in_reply_to="z1", body="Happy to. I'll send you the budget figures by Friday.\n")),
        ("", raw_mail("b1", sender="Bob Bell <bob@example.org>", cc=PERSON, date=utc(2026, 3, 12),
                      subject="Offsite", body="Can you book the room for the offsite?\n")),
        (".Sent", raw_mail("b2", sender=ME, to="Bob Bell <bob@example.org>", date=utc(2026, 3, 13),
                           subject="Hiring", body=f"I'll send {NAME} the contract on Monday.\n")),
        ("", raw_mail("z3", sender=PERSON, date=utc(2026, 3, 14), subject="Visit",
                      body="When can you come and visit us in Lyon?\n")),
        ("", raw_mail("bomb", sender=PERSON, date=utc(2026, 3, 14), subject="Photos", body="PARSE-BOMB\n")),
        ("", raw_mail("y1", sender="Yuri Ames <yuri@example.org>", date=utc(2026, 3, 15), subject="Lunch",
                      body="Lunch on Thursday?\n")),
    ]
    for number, (folder, data) in enumerate(mails):
        (maildir / folder / "cur" / f"{number}.msg:2,S").write_bytes(data)
    database = home / "db" / "kept.json"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[kept]\naddresses = ["{ME}"]\ntimezone = "UTC"\ndatabase = "{database}"\n\n'
        f'[digest.smtp]\nhost = "127.0.0.1"\nport = {closed_port()}\nsecurity = "starttls"\ntimeout = 5\n\n'
        f'[accounts.local]\ntype = "maildir"\npath = "{maildir}"\ninbox = ""\nsent = ".Sent"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    kept = ["--config", str(config), "--now", NOW]

    def in_a_process(*command: str, hot_messages: int = 5000) -> subprocess.CompletedProcess[bytes]:
        """Run kept as its own process; few `hot_messages` move the messages to the message file."""
        environment = {**os.environ, "PYTHONIOENCODING": "utf-8", "KEPT_HOT_MESSAGES": str(hot_messages)}
        return subprocess.run([sys.executable, "-m", "kept.cli", *kept, *command],
                              capture_output=True, env=environment, timeout=300)

    # A scan problem: a message of theirs the parser fails on, with their From header in the error.
    real_parse = prepare_module.parse_message

    def parse(raw: Any, **kwargs: Any) -> Any:
        if b"PARSE-BOMB" in raw.data:
            raise ValueError(f"cannot read the header From: {PERSON}")
        return real_parse(raw, **kwargs)

    monkeypatch.setattr(prepare_module, "parse_message", parse)
    assert main([*kept, "scan", "-q"]) == 0
    # A keep-in-touch decision.
    assert main([*kept, "nudges", "snooze", ADDRESS, "2026-05-01"]) == 0
    # A digest planned, whose sending failed: it stays in meta for the retry.
    assert in_a_process("digest", "--send").returncode != 0
    before = export(config, capsys)
    assert NAME in digest_texts(before["meta"])
    # The user answers it: mute them, mark the promise to them done; the notes wait for the next digest.
    [their_thread] = [t["key"] for t in before["threads"] if t["subject"] == "visit"]
    [their_promise] = [p["id"] for p in before["promises"] if ADDRESS in p["counterparties"]]
    [digest_id] = before["meta"]["sent_digests"]
    sent = before["meta"]["sent_digests"]
    reply = raw_mail("reply", sender=ME, date=utc(2026, 3, 18, 7), subject="Re: kept",
                     headers={"In-Reply-To": digest_id, "References": digest_id},
                     body=f"mute {number_of(sent, 'thread', their_thread)}\n"
                          f"done {number_of(sent, 'promise', their_promise)}\n")
    (maildir / ".Sent" / "cur" / "reply.msg:2,S").write_bytes(reply)
    assert in_a_process("scan", "-q", hot_messages=2).returncode == 0
    # A rebuild sets the database (both files) aside and reads the mail again.
    assert main([*kept, "rebuild", "--yes"]) == 0
    (maildir / "cur" / "y2.msg:2,S").write_bytes(raw_mail(
        "y2", sender="Yuri Ames <yuri@example.org>", date=utc(2026, 3, 16), subject="Re: Lunch", in_reply_to="y1"))
    assert in_a_process("scan", "-q", hot_messages=2).returncode == 0
    assert {path.name for path in database.parent.glob("kept*.json*")} >= {
        "kept.json", "kept.messages.json", "kept.json.broken-20260318T080000",
        "kept.messages.json.broken-20260318T080000"}
    meta = export(config, capsys)["meta"]
    assert any(ADDRESS in note for note in meta["pending_notes"])
    assert ADDRESS in meta["keep_in_touch"] and ADDRESS in meta["muted_contacts"]
    assert any(ADDRESS in problem["reason"] for problem in meta["scan_problems"])
    assert {trace.split(":")[0] for trace in traces(home)} == {
        "db/kept.json", "db/kept.messages.json", "db/kept.json.broken-20260318T080000",
        "db/kept.messages.json.broken-20260318T080000"}

    capsys.readouterr()
    assert main([*kept, "forget", "--yes", ADDRESS]) == 0
    said = capsys.readouterr().out

    assert traces(home) == []
    assert f"Forgot {ADDRESS}: removed " in said and "1 old database copies" in said and "1 planned digests" in said
    after = export(config, capsys)
    assert NAME.lower() not in digest_texts(after["meta"]).lower()
    # What did not mention them stays: Yuri's conversation, the user's mail to Bob (not its promise, which
    # named them), the reply to the digest and the digest's numbering.
    assert {m["message_id"] for m in after["messages"]} == {"<y1@test>", "<y2@test>", "<b2@test>", "<reply@test>"}
    assert after["promises"] == []
    assert after["meta"]["sent_digests"] == meta["sent_digests"]
