"""Provider presets for ``kept init --provider NAME``.

Each preset is data: the account section and the SMTP section a provider
needs (hosts, ports, folder names, sign-in method). `render_config` turns one
into a complete, commented config file that passes `kept.config` validation
as written; the user only stores a secret (``keyring set kept NAME``) or
runs ``kept auth NAME``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kept.errors import UserError


@dataclass(frozen=True)
class Preset:
    """One provider.

    :ivar title: the provider's name as people know it.
    :ivar account: keys of the ``[accounts.NAME]`` section ({address} is filled in).
    :ivar smtp: keys of ``[digest.smtp]``.
    :ivar notes: comment lines put above the account section.
    """

    title: str
    account: dict[str, Any]
    smtp: dict[str, Any]
    notes: tuple[str, ...] = field(default_factory=tuple)


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
            "Gmail: turn on 2-step verification, create an app password at",
            "https://myaccount.google.com/apppasswords, then store it twice:",
            "  keyring set kept gmail        and   keyring set kept digest.smtp",
            "Instead of an app password you can sign in with OAuth2: replace",
            "password_keyring with  auth = \"oauth2\"  and",
            "token_command = \"oauth2l fetch --credentials ~/client_secret.json --scope https://mail.google.com/ --refresh\"",
        ),
    ),
    "outlook": Preset(
        title="Microsoft 365 / Outlook.com",
        account={
            "type": "imap", "host": "outlook.office365.com", "port": 993, "security": "tls",
            "username": "{address}", "sent_folder": "Sent Items", "auth": "oauth2",
            "oauth2_client_id": "00000000-0000-0000-0000-000000000000", "oauth2_tenant": "common",
        },
        smtp={
            "host": "smtp.office365.com", "port": 587, "security": "starttls", "username": "{address}",
            "auth": "oauth2", "oauth2_account": "outlook",
        },
        notes=(
            "Microsoft 365: no passwords, OAuth2 only. Put the client id of your app",
            "registration in oauth2_client_id (README: 'Microsoft 365'), then run",
            "  kept auth outlook",
            "once and enter the code it shows. The refresh token goes to the system keyring.",
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
            "Fastmail: create an app password (Settings > Privacy & Security > Integrations),",
            "then: keyring set kept fastmail   and   keyring set kept digest.smtp",
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
            "iCloud: create an app-specific password at https://account.apple.com,",
            "then: keyring set kept icloud   and   keyring set kept digest.smtp",
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
            "Set host (and sent_folder if kept cannot find it), then:",
            "  keyring set kept imap   and   keyring set kept digest.smtp",
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
            "line to use autodiscover) and username to DOMAIN\\user, then:",
            "  keyring set kept exchange   and   keyring set kept digest.smtp",
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


def render_config(provider: str, address: str) -> str:
    """The config file text for `provider` and the user's `address`."""
    try:
        preset = PRESETS[provider]
    except KeyError:
        raise UserError(
            f"unknown provider {provider!r}",
            hint=f"use one of: {', '.join(PRESETS)}",
        ) from None
    if "@" not in address or '"' in address or "\\" in address:
        raise UserError(f"{address!r} is not an e-mail address", hint="pass --address you@example.com")
    local = address.split("@", 1)[0]

    def fill(value: Any) -> Any:
        return value.format(address=address, local=local) if isinstance(value, str) else value

    lines = [
        f"# kept configuration for {preset.title}, written by `kept init --provider {provider}`.",
        "# Every key is explained in config.example.toml and the README.",
        "",
        "[kept]",
        f"addresses = [{_toml_value(address)}]",
        'timezone = "UTC"',
        "",
        *(f"# {note}" for note in preset.notes),
        f"[accounts.{provider}]",
        *(f"{key} = {_toml_value(fill(value))}" for key, value in preset.account.items()),
        "",
        "[digest]",
        'send_at = "07:30"',
        "",
        "[digest.smtp]",
        *(f"{key} = {_toml_value(fill(value))}" for key, value in preset.smtp.items()),
        "",
    ]
    return "\n".join(lines)
