"""Provider presets for ``kept init --provider NAME``.

Each preset is data: the account section and the SMTP section a provider
needs (hosts, ports, folder names, sign-in method). `render_config` turns one
into a complete, commented config file that passes `kept.config` validation
as written; the user only stores a secret (``keyring set kept NAME``, or
with ``pass`` where there is no usable keyring) or runs ``kept auth NAME``.
`render_example` fills the user's address and time zone into the commented
example config (``kept init`` without ``--provider``).

The machine's time zone (`system_timezone`) and whether a keyring backend
works here (`kept.secrets.keyring_usable`) are asked by the caller, so these
functions stay pure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kept.errors import UserError

#: The address and time zone the example config is written with.
EXAMPLE_ADDRESS = "you@example.com"
EXAMPLE_TIMEZONE_LINE = 'timezone = "UTC"'


@dataclass(frozen=True)
class Preset:
    """One provider.

    :ivar title: the provider's name as people know it.
    :ivar account: keys of the ``[accounts.NAME]`` section ({address} is filled in).
    :ivar smtp: keys of ``[digest.smtp]``.
    :ivar notes: comment lines put above the account section (how to store
        the password is added by `render_config`).
    :ivar alternative: comment lines after those: another way to sign in.
    """

    title: str
    account: dict[str, Any]
    smtp: dict[str, Any]
    notes: tuple[str, ...] = field(default_factory=tuple)
    alternative: tuple[str, ...] = field(default_factory=tuple)


# Personal Microsoft accounts (Outlook.com, Hotmail, Live, MSN, in every
# country's spelling) sign in at the "consumers" endpoint; work and school
# accounts (Microsoft 365) at "organizations". "common" takes both, but only
# for an app registration that allows both.
_PERSONAL_MICROSOFT = re.compile(
    r"(?:outlook|hotmail|live|msn|windowslive|passport)\.(?:com|[a-z]{2}|co\.[a-z]{2}|com\.[a-z]{2})"
)


def microsoft_tenant(address: str) -> str:
    """The ``oauth2_tenant`` for a Microsoft `address`: ``"consumers"`` for a
    personal Outlook.com (Hotmail, Live, MSN) address, ``"organizations"`` for
    any other (a Microsoft 365 work or school account)."""
    domain = address.rsplit("@", 1)[-1].lower()
    return "consumers" if _PERSONAL_MICROSOFT.fullmatch(domain) else "organizations"


PRESETS: dict[str, Preset] = {
    "gmail": Preset(
        title="Gmail / Google Workspace",
        account={
            "type": "imap", "host": "imap.gmail.com", "port": 993, "security": "tls",
            "username": "{address}", "sent_folder": "[Gmail]/Sent Mail", "password_keyring": True,
        },
        smtp={
            "host": "smtp.gmail.com", "port": 465, "security": "tls", "username": "{address}",
            "password_keyring": True,
        },
        notes=(
            "Gmail: turn on 2-step verification and create an app password at",
            "https://myaccount.google.com/apppasswords; it is the password below.",
        ),
        alternative=(
            "Instead of an app password you can sign in with OAuth2: replace the",
            "password line with  auth = \"oauth2\"  and",
            "token_command = \"oauth2l fetch --credentials ~/client_secret.json --scope https://mail.google.com/ --refresh\"",
        ),
    ),
    "outlook": Preset(
        title="Microsoft 365 / Outlook.com",
        account={
            "type": "imap", "host": "outlook.office365.com", "port": 993, "security": "tls",
            "username": "{address}", "sent_folder": "Sent Items", "auth": "oauth2",
            "oauth2_client_id": "00000000-0000-0000-0000-000000000000", "oauth2_tenant": "{tenant}",
        },
        smtp={
            "host": "smtp.office365.com", "port": 587, "security": "starttls", "username": "{address}",
            "auth": "oauth2", "oauth2_account": "outlook",
        },
        notes=(
            "Microsoft 365: no passwords, OAuth2 only. Put the client id of your app",
            "registration in oauth2_client_id (docs/providers.md: 'Microsoft 365'), then run",
            "  kept auth outlook",
            "once and enter the code it shows. The refresh token goes to the system keyring.",
            "oauth2_tenant: organizations = work or school accounts, consumers = Outlook.com,",
            "common = both (if the app registration allows both), or your tenant id if the",
            "app registration is for your organisation only.",
        ),
    ),
    "fastmail": Preset(
        title="Fastmail",
        account={
            "type": "imap", "host": "imap.fastmail.com", "port": 993, "security": "tls",
            "username": "{address}", "sent_folder": "Sent", "password_keyring": True,
        },
        smtp={
            "host": "smtp.fastmail.com", "port": 465, "security": "tls", "username": "{address}",
            "password_keyring": True,
        },
        notes=(
            "Fastmail: create an app password (Settings > Privacy & Security > Integrations);",
            "it is the password below.",
        ),
    ),
    "icloud": Preset(
        title="iCloud Mail",
        account={
            "type": "imap", "host": "imap.mail.me.com", "port": 993, "security": "tls",
            "username": "{address}", "sent_folder": "Sent Messages", "password_keyring": True,
        },
        smtp={
            "host": "smtp.mail.me.com", "port": 587, "security": "starttls", "username": "{address}",
            "password_keyring": True,
        },
        notes=(
            "iCloud: create an app-specific password at https://account.apple.com;",
            "it is the password below.",
        ),
    ),
    "imap": Preset(
        title="any IMAP server",
        account={
            "type": "imap", "host": "imap.example.com", "port": 993, "security": "tls",
            "username": "{address}", "password_keyring": True,
        },
        smtp={
            "host": "smtp.example.com", "port": 465, "security": "tls", "username": "{address}",
            "password_keyring": True,
        },
        notes=(
            "Set host (and sent_folder if kept cannot find it).",
        ),
    ),
    "exchange": Preset(
        title="Exchange Server (on-premises, EWS)",
        account={
            "type": "exchange", "email": "{address}", "username": "DOMAIN\\\\{local}",
            "auth": "ntlm", "service_endpoint": "https://mail.example.com/EWS/Exchange.asmx",
            "password_keyring": True,
        },
        smtp={
            "host": "mail.example.com", "port": 587, "security": "starttls", "username": "DOMAIN\\\\{local}",
            "password_keyring": True,
        },
        notes=(
            "Exchange Server: set service_endpoint to your server's EWS URL (or delete the",
            "line to use autodiscover) and username to DOMAIN\\user.",
            "For Microsoft 365 use --provider outlook: Microsoft switches EWS off in Exchange Online.",
        ),
    ),
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    # Values already carry TOML escapes (DOMAIN\\\\user); only quotes are added.
    return f'"{value}"'


#: The password command written where no keyring backend works; `pass` keeps
#: its store in GPG files, so it works without a desktop session.
PASS_COMMAND = "pass show mail/{address}"


def _password_lines(provider: str, preset: Preset, keyring: bool) -> list[str]:
    """Comment lines saying where the password goes, for the keyring or for `pass`."""
    if not any(section.get("password_keyring") for section in (preset.account, preset.smtp)):
        return []
    if keyring:
        return [
            "Store the password in the system keyring, for reading and for sending the digest:",
            f"  keyring set kept {provider}   and   keyring set kept digest.smtp",
        ]
    return [
        "This machine has no usable system keyring (no desktop session?), so the password",
        "comes from password_command: its first line of output. With pass",
        "(https://www.passwordstore.org), store it once:",
        "  pass insert mail/{address}",
        "Any command that prints it will do, e.g. with a Secret Service:",
        "  password_command = \"secret-tool lookup service kept account " + provider + "\"",
        "(store it with: secret-tool store --label=kept service kept account " + provider + ").",
    ]


def _keyring_notes(preset: Preset, keyring: bool) -> list[str]:
    """A warning for presets whose sign-in keeps a token in the keyring."""
    uses_oauth2 = preset.account.get("auth") == "oauth2" and preset.account.get("oauth2_client_id")
    if keyring or not uses_oauth2:
        return []
    return [
        "This machine has no usable system keyring (no desktop session?), where `kept auth`",
        "keeps its refresh token: run kept on a machine with one, or replace oauth2_client_id",
        "with token_command = \"...\", a program that prints a fresh access token.",
    ]


def _with_password_source(section: dict[str, Any], keyring: bool) -> dict[str, Any]:
    """`section` with ``password_keyring`` swapped for ``password_command`` when there is no keyring."""
    if keyring or not section.get("password_keyring"):
        return section
    return {
        ("password_command" if key == "password_keyring" else key): (PASS_COMMAND if key == "password_keyring" else value)
        for key, value in section.items()
    }


def _check_address(address: str) -> None:
    if (
        "@" not in address or not address.isprintable() or any(c.isspace() for c in address)
        or '"' in address or "\\" in address
    ):
        raise UserError(f"{address!r} is not an e-mail address", hint="pass --address you@your-domain.org")


def render_config(provider: str, address: str, *, timezone: str = "UTC", keyring: bool = True) -> str:
    """The config file text for `provider` and the user's `address`.

    :param timezone: the IANA name written to ``[kept] timezone`` (see `system_timezone`).
    :param keyring: whether a keyring backend works on this machine; without
        one, passwords come from ``password_command`` (``pass``) instead.
    """
    try:
        preset = PRESETS[provider]
    except KeyError:
        raise UserError(
            f"unknown provider {provider!r}",
            hint=f"use one of: {', '.join(PRESETS)}",
        ) from None
    _check_address(address)
    local = address.split("@", 1)[0]

    def fill(value: Any) -> Any:
        return value.format(address=address, local=local, tenant=microsoft_tenant(address)) if isinstance(value, str) else value

    account = _with_password_source(preset.account, keyring)
    smtp = _with_password_source(preset.smtp, keyring)
    notes = [
        *preset.notes,
        *(fill(line) for line in _password_lines(provider, preset, keyring)),
        *_keyring_notes(preset, keyring),
        *preset.alternative,
    ]
    lines = [
        f"# kept configuration for {preset.title}, written by `kept init --provider {provider}`.",
        "# Every key is explained in config.example.toml and the README.",
        "",
        "[kept]",
        f"addresses = [{_toml_value(address)}]",
        f"timezone = {_toml_value(timezone)}",
        "",
        *(f"# {note}" for note in notes),
        f"[accounts.{provider}]",
        *(f"{key} = {_toml_value(fill(value))}" for key, value in account.items()),
        "",
        "[digest]",
        'send_at = "07:30"',
        "",
        "[digest.smtp]",
        *(f"{key} = {_toml_value(fill(value))}" for key, value in smtp.items()),
        "",
    ]
    return "\n".join(lines)


def render_example(address: str | None = None, *, timezone: str = "UTC") -> str:
    """The commented example config, with the user's `address` (if given) and `timezone` filled in."""
    text = files("kept").joinpath("config.example.toml").read_text(encoding="utf-8")
    if address is not None:
        _check_address(address)
        text = text.replace(EXAMPLE_ADDRESS, address)
    return text.replace(EXAMPLE_TIMEZONE_LINE, f"timezone = {_toml_value(timezone)}", 1)


def system_timezone(environ: Mapping[str, str] | None = None, root: Path = Path("/")) -> str:
    """The IANA name of this machine's time zone, or "UTC" when it cannot be told.

    In order: ``$TZ`` (a name, or ``:`` and a zoneinfo path), the target of
    the ``/etc/localtime`` link (what systemd's timedatectl sets),
    ``/etc/timezone`` (Debian). A name is used only if it is a zone Python
    knows, so the config written with it passes ``kept check``.

    :param environ: the environment (tests pass their own).
    :param root: the file system root (tests pass a folder with an etc/ in it).
    """
    environ = os.environ if environ is None else environ
    candidates: list[str] = []
    tz = environ.get("TZ", "").strip().lstrip(":")
    if tz:
        candidates.append(_zone_name_of_path(tz) if tz.startswith("/") else tz)
    try:
        candidates.append(_zone_name_of_path(os.readlink(root / "etc" / "localtime")))
    except OSError:
        pass
    try:
        candidates.append((root / "etc" / "timezone").read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError):
        pass
    for name in candidates:
        if _known_zone(name):
            return name
    return "UTC"


def _zone_name_of_path(path: str) -> str:
    """``/usr/share/zoneinfo/Europe/Berlin`` -> ``Europe/Berlin`` ("" if not under a zoneinfo folder)."""
    _, found, name = path.partition("zoneinfo/")
    if not found:
        return ""
    # The "posix/" and "right/" trees hold the same zones under the same names.
    for prefix in ("posix/", "right/"):
        name = name.removeprefix(prefix)
    return name


def _known_zone(name: str) -> bool:
    if not name or len(name) > 100 or name.startswith("/") or ".." in name or name in ("localtime", "posixrules"):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
