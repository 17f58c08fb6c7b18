"""Text from mail is data on the terminal: never Rich markup, never an escape sequence.

The sample mailbox is scanned, then every text field the database holds
(names, addresses, Message-IDs, subjects, promise sentences and actions,
evidence, introductions, leads, notes waiting for the digest, a skipped
message's reason, an account's error) is given markup and terminal escape
payloads. Every listing command then runs as a user runs it, in its own
process, as text and as JSON, and

* exits 0 (``[/bold]`` in a name used to crash Rich's markup parser);
* prints no ESC, C1 control, BEL or bidi override or isolate, to stdout or
  stderr, also when Rich is forced to colour its output (then only Rich's
  own SGR colour sequences may appear, and no hyperlink or blink);
* shows the markup as the text it is (``[red]draft[/red]`` verbatim) and the
  controls as visible escapes (``\\x1b[31m``);
* prints JSON that parses and gives back the stored text exactly.

The digest's plain-text and HTML renderings are checked the same way: the
HTML is escaped by Jinja2 (its only links stay kept's ``mailto:`` links).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import kept.commands
from kept.cli import main
from kept.commands.common import PlainFormatter
from kept.errors import AuthenticationError
from kept.models import ScanProblem
from kept.storage.serialize import to_json
from kept.terminal import _escape_unsafe, terminal_json, terminal_json_stream, terminal_line, terminal_text
from tests.helpers import demo_config

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-20T07:30:00+01:00"
OWN_ADDRESSES = {"sam@rivera-consulting.example", "sam.rivera@fastmail.example"}

# Markup first: cells and names are cut to 60 or 80 characters, and what
# must show verbatim should survive the cut.
MARKUP = ("[red]draft[/red]", "[/bold]", "[blink]y[/blink]", "[link=https://evil.example/login]x[/link]")
OSC8_LINK = "\x1b]8;;https://evil.example\x1b\\x\x1b]8;;\x1b\\"
CONTROLS = ("\x1b[31m", "\x9b31m", "\x07", "\u202e", OSC8_LINK)
HTML = '<a href="https://evil.example/login">h</a>'
PAYLOAD = "".join((MARKUP[0], MARKUP[1], *CONTROLS[:4], MARKUP[2], CONTROLS[4], MARKUP[3], HTML))
# How the controls show on the terminal (`kept.terminal`).
SHOWN = ("\\x1b[31m", "\\x9b31m", "\\x07", "\\u202e", "\\x1b]8;;https://evil.example\\x1b\\")

# Record fields kept makes itself (ids, enums, dates, the configured
# account name), and the names a message addresses (which decide whether
# it waits on the user): left as they are, so the lists are not empty.
KEPT_FIELDS = frozenset({
    "account", "role", "folder", "key", "thread_key", "id", "kind", "status", "rule_id", "stage", "date",
    "made_at", "due", "closed_at", "snoozed_until", "received_at", "thanked_at", "asks_until", "addressed",
})
# The characters no output may carry raw: C0 controls but tab and line
# feed, DEL, C1 controls, bidi embeddings, overrides and isolates.
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
SGR = re.compile(r"\x1b\[[0-9;]*m")


def hostile(text: str) -> str:
    """`text` with the payload: in an address's local part (so equal addresses stay equal), else in front."""
    if text.lower() in OWN_ADDRESSES:
        return text
    if "@" in text:
        local, _, domain = text.rpartition("@")
        return f"{local}{PAYLOAD}@{domain}"
    return f"{PAYLOAD} {text}"


def poison(value: Any, field: str = "") -> Any:
    """Every string in `value` made hostile, but those of `KEPT_FIELDS`."""
    if field in KEPT_FIELDS:
        return value
    if isinstance(value, str):
        return hostile(value)
    if isinstance(value, list):
        return [poison(item, field) for item in value]
    if isinstance(value, dict):
        return {name: poison(item, name) for name, item in value.items()}
    return value


@pytest.fixture(scope="module")
def hostile_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample mailbox scanned, then every text field of its database given the payload."""
    folder = tmp_path_factory.mktemp("hostile")
    folder.chmod(0o700)
    config = demo_config(folder)
    assert main(["--config", str(config), "--now", NOW, "scan", "-q"]) == 0
    database = folder / "kept.json"
    data = json.loads(database.read_text(encoding="utf-8"))
    for table in ("messages", "threads", "promises", "introductions", "leads"):
        data[table] = {doc_id: poison(doc) for doc_id, doc in data[table].items()}
    at = datetime(2026, 11, 19, 6, 0, tzinfo=timezone.utc)
    problem = ScanProblem(account=hostile("sample"), folder=hostile("INBOX"), uid=hostile("1790000000.x"),
                          message_id=hostile("<skipped@mail.example>"), step=hostile("parse"),
                          reason=hostile("ValueError: bad header"), at=at)
    data["meta"]["scan_problems"] = {"value": [to_json(problem)]}
    data["meta"]["pending_notes"] = {"value": [hostile("Anna's reply was read")]}
    data["meta"]["health:sample"] = {"value": {
        "ok": False, "error": hostile("login refused"), "failing_since": at.isoformat(),
        "last_ok": at.isoformat(), "last_attempt": at.isoformat(),
    }}
    database.write_text(json.dumps(data), encoding="utf-8")
    return config


def run_kept(config: Path, *args: str, color: bool = False) -> subprocess.CompletedProcess[str]:
    """`kept` as a user runs it; `color` forces Rich to style its output as on a terminal."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "5000"}
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)
    if color:
        env.update(FORCE_COLOR="1", TERM="xterm-256color")
    return subprocess.run(
        [sys.executable, "-m", "kept.cli", "--config", str(config), "--now", NOW, *args],
        capture_output=True, text=True, encoding="utf-8", env=env, timeout=300,
    )


def unsafe(text: str) -> list[str]:
    return sorted(set(FORBIDDEN.findall(text)))


# Each listing, in its text form (--json adds the JSON form).
LISTINGS = [
    ["status"],
    ["threads"],
    ["threads", "--waiting-on-them"],
    ["promises", "--all"],
    ["promises", "--kept"],
    ["contacts"],
    ["nudges"],
    ["digest", "--preview"],
]
JSON_ONLY = [["export"]]


@pytest.fixture(scope="module")
def text_outputs(hostile_config: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    return {" ".join(argv): run_kept(hostile_config, *argv) for argv in LISTINGS}


@pytest.mark.parametrize("argv", LISTINGS, ids=" ".join)
def test_text_listing_shows_mail_text_as_data(
    text_outputs: dict[str, subprocess.CompletedProcess[str]], argv: list[str]
) -> None:
    done = text_outputs[" ".join(argv)]
    assert done.returncode == 0, done.stderr[-2000:]
    assert unsafe(done.stdout) == [] and unsafe(done.stderr) == []
    # Listed, and markup shown as the text it is.
    assert MARKUP[0] in done.stdout and MARKUP[1] in done.stdout, done.stdout[:2000]


def test_every_payload_shows_verbatim_somewhere(text_outputs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    printed = "".join(done.stdout for done in text_outputs.values())
    for text in (*MARKUP, *SHOWN):
        assert text in printed, text


@pytest.mark.parametrize("argv", LISTINGS, ids=" ".join)
def test_forced_colour_adds_only_rich_own_colours(hostile_config: Path, argv: list[str]) -> None:
    done = run_kept(hostile_config, *argv, color=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\x1b]" not in done.stdout  # no OSC: no hyperlink, no window title
    sequences = set(SGR.findall(done.stdout))
    assert not any(re.search(r"\[(?:[0-9;]*;)?(?:5|6)(?:;|m)", s) for s in sequences), sequences  # no blink
    plain = SGR.sub("", done.stdout)
    assert unsafe(plain) == [] and unsafe(done.stderr) == []
    assert MARKUP[0] in plain and MARKUP[1] in plain


@pytest.mark.parametrize("argv", [*LISTINGS, *JSON_ONLY], ids=" ".join)
def test_json_listing_is_valid_safe_and_exact(hostile_config: Path, argv: list[str]) -> None:
    done = run_kept(hostile_config, *argv, *(["--json"] if argv != ["export"] else []))
    assert done.returncode == 0, done.stderr[-2000:]
    assert unsafe(done.stdout) == [] and unsafe(done.stderr) == []
    strings = list(strings_in(json.loads(done.stdout)))
    # The stored text comes back exactly, controls included.
    assert any(CONTROLS[0] in s and CONTROLS[1] in s and MARKUP[0] in s for s in strings), strings[:20]


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, dict):
        for name, item in value.items():
            yield name
            yield from strings_in(item)


class _Tags(HTMLParser):
    """The tags, attributes and text of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_digest_html_and_email_keep_mail_text_as_text(hostile_config: Path, tmp_path: Path) -> None:
    html_file, eml_file = tmp_path / "digest.html", tmp_path / "digest.eml"
    done = run_kept(hostile_config, "digest", "--preview", "--html", str(html_file), "--eml", str(eml_file))
    assert done.returncode == 0, done.stderr[-2000:]
    html = html_file.read_text(encoding="utf-8")
    parsed = _Tags()
    parsed.feed(html)
    links = [value or "" for tag, attrs in parsed.tags if tag == "a" for name, value in attrs if name == "href"]
    assert links and all(link.startswith("mailto:") for link in links), links
    assert not [tag for tag, _ in parsed.tags if tag in ("script", "iframe", "img", "form")]
    assert not [name for _, attrs in parsed.tags for name, _ in attrs if name.startswith("on")]
    text = "".join(parsed.text)
    # Jinja2's autoescape: the mail's own tag is text on the page.
    assert HTML in text and MARKUP[0] in text
    assert unsafe(html) == []
    # The e-mail's text part is the preview's text.
    from email import message_from_bytes, policy

    message = message_from_bytes(eml_file.read_bytes(), policy=policy.default)
    for part in message.walk():
        if part.get_content_maintype() == "text":
            assert unsafe(part.get_content()) == [], part.get_content_type()


def test_scan_progress_shows_a_folder_name_as_it_is(tmp_path: Path) -> None:
    """A folder's name comes from the mail server; on a terminal the progress bar showed ``[blink]`` as blinking."""
    import pty

    from tests.helpers import ME, raw_mail, utc

    tmp_path.chmod(0o700)
    for folder in ("", ".[blink]Sent"):
        for sub in ("cur", "new", "tmp"):
            (tmp_path / "Maildir" / folder / sub).mkdir(parents=True)
    for number in range(3):
        (tmp_path / "Maildir" / ".[blink]Sent" / "cur" / f"17000000{number}.m:2,S").write_bytes(
            raw_mail(f"m{number}", sender=ME, to="anna@mail.example", date=utc(2026, 3, 19), subject="Hi"))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[kept]\naddresses = ["{ME}"]\ntimezone = "UTC"\ndatabase = "{tmp_path / "kept.json"}"\n'
        f'[accounts.a]\ntype = "maildir"\npath = "{tmp_path / "Maildir"}"\ninbox = ""\nsent = ".[blink]Sent"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    terminal, program_side = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "COLUMNS": "200"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "kept.cli", "--config", str(config), "--now", "2026-03-20T08:00:00+00:00", "scan"],
        stdin=program_side, stdout=program_side, stderr=program_side, env=env,
    )
    os.close(program_side)
    shown = b""
    while True:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:  # EIO: the program closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(terminal)
    assert process.wait(timeout=300) == 0, shown[-2000:]
    printed = shown.decode("utf-8", "replace")
    assert "a .[blink]Sent" in printed, printed[-2000:]
    assert "\x1b[5m" not in printed


# -- kept.terminal itself ------------------------------------------------------------

# Text with every kind of character the functions treat differently.
hostile_text = st.text(st.one_of(
    st.sampled_from("\x00\x07\x08\t\n\x0b\x0c\r\x1b\x1c\x1f \x7f\x85\x9b\x9d\u200e\u2028\u2029\u202a\u202e\u2066\u2069"),
    st.characters(),
))


@given(hostile_text)
def test_terminal_text_and_line_leave_nothing_a_terminal_obeys(text: str) -> None:
    line = terminal_line(text)
    assert unsafe(line) == [] and "\n" not in line
    assert unsafe(terminal_text(text)) == []
    # Idempotent: what they return holds nothing they would change.
    assert terminal_line(line) == line and terminal_text(terminal_text(text)) == terminal_text(text)


@given(st.recursive(st.none() | st.integers() | hostile_text,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3)))
def test_terminal_json_is_exact_json_with_nothing_raw(value: Any) -> None:
    text = terminal_json(value)
    assert unsafe(text) == [] and not set(text) & {"\u2028", "\u2029"}
    assert json.loads(text) == value


json_keys = hostile_text | st.integers() | st.floats() | st.booleans() | st.none()


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile_text | st.dates(),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.dictionaries(json_keys, inner, max_size=3),
))
def test_terminal_json_is_what_the_json_module_writes(value: Any) -> None:
    """terminal_json walks containers itself (the json module's indented encoder is slow pure Python); same text."""
    expected = _escape_unsafe(json.dumps(value, indent=2, ensure_ascii=False, default=str))
    assert terminal_json(value) == expected
    assert "".join(terminal_json_stream([("x", value), ("items", iter([value, value]))])) == _escape_unsafe(
        json.dumps({"x": value, "items": [value, value]}, indent=2, ensure_ascii=False, default=str)
    )


def test_visible_escapes_and_kept_text() -> None:
    assert terminal_line("Anna\x1b[31m \u202eKeller\r\n  [red]x[/red]") == "Anna\\x1b[31m \\u202eKeller [red]x[/red]"
    assert terminal_text("a\r\nb\u2028c\tÄ\u200f\n") == "a\nb\nc\tÄ\u200f\n"


def test_a_user_error_quoting_a_server_is_printed_as_data(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refused(args: object) -> int:
        raise AuthenticationError("imap.example refused the login: \x1b]8;;https://evil.example\x07[red]x[/red]")

    monkeypatch.setattr(kept.commands, "cmd_status", refused)
    assert main(["status"]) == AuthenticationError.exit_code
    err = capsys.readouterr().err
    assert unsafe(err) == [] and "\\x1b]8;;https://evil.example\\x07[red]x[/red]" in err


def test_a_warning_quoting_mail_is_printed_as_data() -> None:
    import logging

    record = logging.LogRecord("kept.daemon.scan", logging.WARNING, __file__, 1,
                               "skipped %s", ("<a\x1b[5m@x>\u202e",), None)
    assert PlainFormatter().format(record) == "kept: warning: skipped <a\\x1b[5m@x>\\u202e"
