"""Config values of any wrong type or size are configuration errors, never a traceback.

The named cases are the ones an attack on kept found; the property test
below feeds random TOML values of every type into every key of the schema.
"""

from __future__ import annotations

import copy
import math
import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kept import config as schema
from kept.cli import main
from kept.config import load_settings
from kept.errors import ConfigError

BASE = """\
[kept]
addresses = ["me@corp.test"]
timezone = "Europe/Berlin"

[digest]
send_at = "07:30"

[digest.smtp]
host = "smtp.corp.test"
username = "me@corp.test"
password_env = "KEPT_SMTP_PASSWORD"

[accounts.home]
type = "maildir"
path = "Mail"
"""


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "config.toml"
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


def test_the_base_config_loads(tmp_path):
    settings = load_settings(write(tmp_path, BASE))
    assert settings.timezone == "Europe/Berlin"


REPORTED = [
    # (what, replace this, with this, words of the message)
    ("an infinite size", 'timezone = "Europe/Berlin"', 'timezone = "UTC"\nmax_message_mb = inf',
     "max_message_mb' = inf: must be a finite number"),
    ("a list as account type", 'type = "maildir"', 'type = ["maildir"]',
     "[accounts.home] key 'type' = ['maildir']: must be 'imap', 'maildir' or 'exchange'"),
    ("a 10,000-character time zone", "Europe/Berlin", "A" * 10_000,
     "[kept] key 'timezone' = 'AAAA"),
    ("a number too big for a float", 'timezone = "Europe/Berlin"',
     'timezone = "UTC"\n[promises]\nmin_confidence = ' + "9" * 400, "min_confidence"),
    ("a port out of range", 'host = "smtp.corp.test"', 'host = "smtp.corp.test"\nport = 70000',
     "[digest.smtp] key 'port' = 70000: must be at most 65535"),
    ("superscript digits as a time", '"07:30"', '"²:00"', "must be a time of day"),
    ("a NUL in a path", 'path = "Mail"', 'path = "Ma\\u0000il"', "must not contain control characters"),
    ("a line break in the digest address", 'send_at = "07:30"', 'to = "me@corp.test\\nBcc: x@evil.test"',
     "must not contain control characters"),
    ("a scan every 10**12 minutes", "[accounts.home]", "[daemon]\nscan_every_minutes = 1000000000000\n[accounts.home]",
     "must be at most"),
    ("a NaN threshold", 'timezone = "Europe/Berlin"', 'timezone = "UTC"\n[promises]\nmin_confidence = nan',
     "must be a finite number"),
    ("arrays nested 100,000 deep", 'send_at = "07:30"', "send_at = " + "[" * 100_000 + "]" * 100_000,
     "nested too deeply"),
    ("an account name with an escape sequence", "[accounts.home]", '[accounts."\\u001b[31mhome"]',
     "[accounts.'\\x1b[31mhome']: the account name must not contain control characters"),
]


@pytest.mark.parametrize(("what", "old", "new", "words"), REPORTED, ids=[r[0] for r in REPORTED])
def test_reported_values_are_configuration_errors(tmp_path, what, old, new, words):
    assert old in BASE
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, BASE.replace(old, new, 1)))
    assert words in str(info.value)
    # One readable message: a huge value is shortened, not repeated in full.
    assert len(str(info.value)) < 1_000


def test_a_file_that_is_not_utf8_is_a_configuration_error(tmp_path):
    path = write(tmp_path, BASE.encode("utf-8").replace(b"me@corp.test", b"m\xe9@corp.test", 1))
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0xe9 at line 2\); fix: save it as UTF-8"):
        load_settings(path)


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    path = write(tmp_path, BASE + "# " + "x" * 2_000_000 + "\n")
    with pytest.raises(ConfigError, match="is 2.0 MB; a kept config is a few KB"):
        load_settings(path)


def test_a_password_of_the_wrong_type_is_never_echoed(tmp_path):
    text = BASE.replace('password_env = "KEPT_SMTP_PASSWORD"', "password = 31415926535")
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert "[digest.smtp] key 'password': must be a string" in str(info.value)
    assert "31415926535" not in str(info.value)


@pytest.mark.parametrize("text", [
    BASE.replace('timezone = "Europe/Berlin"', 'timezone = "UTC"\nmax_message_mb = inf'),
    BASE.replace('type = "maildir"', 'type = ["maildir"]'),
    BASE.replace("Europe/Berlin", "A" * 10_000),
    BASE.encode("utf-8") + b"# \xff\xfe\n",
], ids=["inf", "list-type", "long-zone", "not-utf8"])
def test_kept_check_exits_2_with_one_message(tmp_path, capsys, text):
    path = write(tmp_path, text)
    assert main(["--config", str(path), "check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kept: {path}: 1 problem in the configuration:")
    assert "Traceback" not in err


# -- the property: any value in any key is either fine or a ConfigError ----------


def _toml_string(text: str) -> str:
    """A TOML basic string holding `text` exactly."""
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def toml_value(value: Any) -> str:
    """`value` as an inline TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


NEAR_MISSES = st.sampled_from([
    "", " ", "UTC", "Europe/Berlin", "../../etc/passwd", "07:30", "24:00", "me@corp.test", "you@example.com",
    "imap", "maildir", "exchange", "tls", "starttls", "oauth2", "oauth2-app", "smtp", "none", "x" * 10_000,
    "\x00", "a\nb", "\x1b[31m", "²:00", "https://mail.corp.test/EWS/Exchange.asmx",
])
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([0, 1, -1, 65535, 65536, 2**63 - 1, -(2**63), 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
)
SCALARS = st.one_of(
    st.booleans(), NUMBERS, st.text(max_size=40), NEAR_MISSES,
    st.datetimes(timezones=st.just(timezone(timedelta(hours=2)))), st.dates(), st.times(),
)
KEYS = st.one_of(st.sampled_from(["deliver", "work", "anna@corp.test", "corp.test", "friends"]), st.text(max_size=12))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)

#: (table path, key) for every key kept knows, in a config where that table exists.
SECTIONS: list[tuple[str, dict[str, Any]]] = [
    ("kept", schema.KEPT_KEYS),
    ("promises", schema.PROMISE_KEYS),
    ("threads", schema.THREAD_KEYS),
    ("digest", schema.DIGEST_KEYS),
    ("digest.smtp", schema.SMTP_KEYS),
    ("daemon", schema.DAEMON_KEYS),
    ("nudges", schema.NUDGES_KEYS),
    ("nudges.introductions", schema.INTRODUCTION_NUDGE_KEYS),
    ("nudges.keep_in_touch", schema.KEEP_IN_TOUCH_KEYS),
    ("nudges.thanks", schema.THANKS_NUDGE_KEYS),
    ("accounts.mail", schema.IMAP_KEYS),
    ("accounts.local", schema.MAILDIR_KEYS),
    ("accounts.ews", schema.EXCHANGE_KEYS),
]
EVERY_KEY = [(section, key) for section, keys in SECTIONS for key in keys]

#: A valid document with every table of `SECTIONS`, as Python data.
VALID: dict[str, Any] = {
    "kept": {"addresses": ["me@corp.test"], "timezone": "Europe/Berlin"},
    "promises": {"horizon_days": {"deliver": 3}},
    "threads": {},
    "digest": {"send_at": "07:30"},
    "daemon": {},
    "nudges": {
        "introductions": {}, "thanks": {},
        "keep_in_touch": {"cadence": {"anna@corp.test": 30}, "tags": {"friends": ["corp.test"]}},
    },
    "accounts": {
        "mail": {"type": "imap", "host": "imap.corp.test", "username": "me", "password_env": "KEPT_PW"},
        "local": {"type": "maildir", "path": "Mail"},
        "ews": {"type": "exchange", "email": "me@corp.test", "password_env": "KEPT_PW"},
    },
}
VALID["digest"]["smtp"] = {"host": "smtp.corp.test"}


def toml_document(data: dict[str, Any]) -> str:
    """`data` as a TOML file: one [table] per nested table, values inline."""
    lines: list[str] = []

    def table(path: list[str], body: dict[str, Any]) -> None:
        scalars = {k: v for k, v in body.items() if not (isinstance(v, dict) and _is_section(path + [k]))}
        lines.append("[" + ".".join(_toml_key(p) for p in path) + "]")
        lines.extend(f"{_toml_key(k)} = {toml_value(v)}" for k, v in scalars.items())
        for key, value in body.items():
            if key not in scalars:
                table(path + [key], value)

    for name, body in data.items():
        table([name], body)
    return "\n".join(lines) + "\n"


def _is_section(path: list[str]) -> bool:
    dotted = ".".join(path)
    return dotted == "accounts" or any(s == dotted or s.startswith(dotted + ".") for s, _ in SECTIONS)


def with_value(section: str, key: str, value: Any) -> dict[str, Any]:
    """A deep copy of `VALID` with `key` of `section` set to `value`."""
    data = copy.deepcopy(VALID)
    table = data
    for part in section.split("."):
        table = table[part]
    table[key] = value
    return data


def test_the_property_base_document_loads(tmp_path):
    settings = load_settings(write(tmp_path, toml_document(VALID)))
    assert [a.name for a in settings.accounts] == ["mail", "local", "ews"]


def loads_or_config_error(path: Path) -> None:
    try:
        load_settings(path)
    except ConfigError as exc:
        assert exc.problems
        assert len(str(exc)) < 4_000 * len(exc.problems)


@pytest.mark.parametrize(("section", "key"), EVERY_KEY, ids=[f"{s}.{k}" for s, k in EVERY_KEY])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=VALUES)
def test_any_value_in_any_key_loads_or_is_a_config_error(tmp_path, section, key, value):
    loads_or_config_error(write(tmp_path, toml_document(with_value(section, key, value))))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(st.tuples(st.sampled_from(EVERY_KEY), VALUES), min_size=1, max_size=6))
def test_many_wrong_values_at_once_load_or_are_one_config_error(tmp_path, changes):
    data = copy.deepcopy(VALID)
    for (section, key), value in changes:
        table = data
        for part in section.split("."):
            # An earlier change may have put a value where this table was.
            table = table.get(part) if isinstance(table, dict) else None
        if isinstance(table, dict):
            table[key] = value
    loads_or_config_error(write(tmp_path, toml_document(data)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(section=st.sampled_from(["kept", "digest", "accounts", "nudges", "promises.horizon_days",
                                "nudges.keep_in_touch.tags", "accounts.local"]),
       key=KEYS, value=VALUES)
def test_unknown_keys_and_names_load_or_are_a_config_error(tmp_path, section, key, value):
    loads_or_config_error(write(tmp_path, toml_document(with_value(section, key, value))))
