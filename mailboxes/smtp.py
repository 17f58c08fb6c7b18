"""Send the digest by SMTP, and choose how the digest leaves.

`SmtpSender` speaks implicit TLS (``security = "tls"``, port 465) or
STARTTLS (``"starttls"``, port 587). There is no cleartext mode: a server
that does not offer STARTTLS is an error, never a silent downgrade. The
server certificate is verified unless the configuration explicitly turns
that off; ``ca_file`` adds a CA for self-signed servers.

Errors: `kept.errors.AuthenticationError` when the server refuses the
login, `kept.errors.DeliveryError` (a `SourceError` the daemon retries, and a
`UserError` the CLI shows as one message with its fix) for the network, the
TLS handshake, a certificate or the server refusing the message,
`kept.errors.UserError` for configuration that cannot work (unreadable
ca_file, no password source). The password never reaches a log.

`check_route` is ``kept check``'s look at the route: everything a delivery
does except handing over a message.
"""

from __future__ import annotations

import base64
import functools
import logging
import smtplib
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Protocol, runtime_checkable

from kept.errors import AuthenticationError, ConfigError, DeliveryError, UserError
from kept.mailboxes.append import ImapAppendSender
from kept.mailboxes.command import CommandSender
from kept.mailboxes.factory import secret_for
from kept.mailboxes.tls import client_context
from kept.oauth2 import SMTP_SCOPES, cached_access_token
from kept.secrets import password_for, run_secret_command
from kept.settings import Account, ExchangeAccount, ImapAccount, Settings, SmtpSettings

__all__ = ["Sender", "SmtpSender", "check_route", "route_problem", "sender_for", "smtp_password"]

logger = logging.getLogger(__name__)

#: The fix for a server kept cannot reach or speak TLS with.
CONNECTION_HINT = (
    'check host, port and security in [digest.smtp] (port 465 goes with security = "tls", 587 with '
    '"starttls") and that this machine can reach the server'
)
#: The fix for a recipient the server refused.
RECIPIENT_HINT = "check [digest] to (default: the first of [kept] addresses)"


@runtime_checkable
class Sender(Protocol):
    """Something that delivers the digest e-mail."""

    def send(self, message: EmailMessage) -> None:
        """Deliver `message`; raise AuthenticationError, DeliveryError or UserError."""

    def check(self) -> str:
        """Try the route without delivering anything; say what worked, or raise as `send` does."""


def smtp_password(settings: SmtpSettings) -> str:
    """The SMTP password from ``password_env``, ``password_command``, the
    keyring (user ``"digest.smtp"``) or a consented plaintext ``password``.

    Raises UserError with a hint, like `kept.secrets.password_for`.
    """
    if not (settings.password_env or settings.password_command or settings.password_keyring or settings.password):
        raise UserError(
            "digest.smtp: username is set but there is no password source",
            hint='set password_env = "VARIABLE", password_command = "..." or password_keyring = true in [digest.smtp]',
        )
    # password_for only reads the name and the password fields; an
    # ImapAccount named after the section gives the same messages and
    # timeouts for both kinds of server.
    stand_in = ImapAccount(
        name="digest.smtp",
        host=settings.host,
        password_env=settings.password_env,
        password_command=settings.password_command,
        password_keyring=settings.password_keyring,
        password=settings.password,
    )
    return password_for(stand_in)


def smtp_access_token(settings: SmtpSettings, accounts: tuple[Account, ...] = ()) -> str:
    """An OAuth2 access token for SMTP: ``token_command``, or the Microsoft
    sign-in of the account named by ``oauth2_account``."""
    if settings.token_command:
        return run_secret_command("digest.smtp", "token_command", settings.token_command, "access token")
    for account in accounts:
        if (
            account.name == settings.oauth2_account
            and isinstance(account, (ImapAccount, ExchangeAccount))
            and account.oauth2 is not None
        ):
            return cached_access_token(account.name, account.oauth2, SMTP_SCOPES)
    raise UserError(
        "digest.smtp: auth = \"oauth2\" but there is no token source",
        hint='set token_command, or oauth2_account = "NAME" (an account signed in with `kept auth NAME`)',
    )


class SmtpSender:
    """Send messages through one SMTP server.

    :param settings: the ``[digest.smtp]`` settings.
    :param password: called once per `send` when ``username`` is set; None
        means `smtp_password` for these settings.
    """

    def __init__(self, settings: SmtpSettings, password: Callable[[], str] | None = None) -> None:
        self._settings = settings
        self._password = password or functools.partial(smtp_password, settings)

    def __repr__(self) -> str:
        config = self._settings
        return f"SmtpSender({config.host}:{config.port}, {config.security})"

    @property
    def where(self) -> str:
        """The server as ``host:port``, for messages."""
        return f"{self._settings.host}:{self._settings.port}"

    def send(self, message: EmailMessage) -> None:
        """Connect, secure the connection, log in if configured, send, disconnect."""
        where = self.where
        with self._session("cannot send the digest") as client:
            refused = client.send_message(message)
            if refused:
                raise DeliveryError(
                    f"digest: the SMTP server {where} refused the recipients {', '.join(sorted(refused))}",
                    hint=RECIPIENT_HINT,
                )
        logger.info("digest: sent %s through %s", message.get("Message-ID", "(no Message-ID)"), where)

    def check(self) -> str:
        """Do all that `send` does before sending (connect, TLS or STARTTLS, EHLO,
        log in), then QUIT without sending anything; say what worked."""
        config = self._settings
        with self._session("cannot reach the SMTP server"):
            pass
        login = f"logged in as {config.username}" if config.username else "no login configured"
        return f"SMTP {self.where} ({config.security}): ok, {login}; nothing sent"

    @contextmanager
    def _session(self, action: str) -> Iterator[smtplib.SMTP]:
        """A client connected over TLS and logged in (if configured); QUIT when the block ends."""
        config = self._settings
        where = self.where
        with _found_at_send_time(f"{action} through {where}"):
            context = self._ssl_context()
        logger.debug("digest: connecting to SMTP %s (%s)", where, config.security)
        with self._errors(f"{action} through {where}"):
            if config.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    config.host, config.port, timeout=config.timeout, context=context
                )
            else:
                client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
            try:
                if config.security != "tls":
                    client.ehlo()
                    if not client.has_extn("starttls"):
                        raise DeliveryError(
                            f"digest: the SMTP server {where} does not offer STARTTLS; "
                            "kept does not send in cleartext",
                            hint='use security = "tls" and port 465 in [digest.smtp] if the server speaks '
                                 "implicit TLS; otherwise this server cannot carry the digest safely",
                        )
                    client.starttls(context=context)
                    client.ehlo()
                if config.username:
                    self._login(client, where)
                yield client
            finally:
                _quit_quietly(client)

    def _login(self, client: smtplib.SMTP, where: str) -> None:
        config = self._settings
        with _found_at_send_time(f"cannot log in to the SMTP server {where}"):
            password = self._password()
        try:
            if config.auth == "oauth2":
                # SASL XOAUTH2 (RFC-less but used by Gmail and Microsoft 365):
                # "user=" USER ^A "auth=Bearer " TOKEN ^A ^A, base64-encoded by smtplib.
                token = password
                client.auth(
                    "XOAUTH2",
                    # A second call carries the server's error details; the
                    # protocol answers it with an empty line.
                    lambda challenge=None: ""
                    if challenge
                    else f"user={config.username}\x01auth=Bearer {token}\x01\x01",
                    initial_response_ok=True,
                )
            elif (config.username + password).isascii():
                client.login(config.username, password)
            else:
                _login_plain_utf8(client, config.username, password)
        except smtplib.SMTPAuthenticationError as error:
            raise AuthenticationError(
                f"digest: the SMTP server {where} refused the login of user {config.username!r} "
                f"({error.smtp_code})",
                hint="check the password or token source in [digest.smtp]",
            ) from error
        except smtplib.SMTPNotSupportedError as error:
            raise AuthenticationError(
                f"digest: the SMTP server {where} offers no login (AUTH) on this connection",
                hint="remove username from [digest.smtp], or check host, port and security",
            ) from error
        except smtplib.SMTPException as error:
            # The password itself is never part of what smtplib raises.
            raise DeliveryError(f"digest: login to the SMTP server {where} failed: {error}",
                                hint=CONNECTION_HINT) from error

    def _ssl_context(self) -> ssl.SSLContext:
        config = self._settings
        return client_context(ca_file=config.ca_file, verify=config.verify_tls, who="digest.smtp", host=config.host)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn network, TLS and protocol failures into one DeliveryError with a fix."""
        try:
            yield
        except ssl.SSLCertVerificationError as error:
            raise DeliveryError(
                f"digest: {action}: the server certificate is not trusted ({error.verify_message})",
                hint="set ca_file in [digest.smtp] to the server's certificate (or its CA's), "
                     "or check host: it must be the name on the certificate",
            ) from error
        except ssl.SSLError as error:
            raise DeliveryError(f"digest: {action}: TLS failed ({error.reason or error})",
                                hint=CONNECTION_HINT) from error
        except smtplib.SMTPRecipientsRefused as error:
            raise DeliveryError(
                f"digest: {action}: recipients refused: {', '.join(sorted(error.recipients))}",
                hint=RECIPIENT_HINT,
            ) from error
        except smtplib.SMTPResponseException as error:
            detail = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
            raise DeliveryError(
                f"digest: {action}: server answered {error.smtp_code} {_one_line(detail)}",
                hint="the server refused the digest: check [digest] to and the sender your account may use",
            ) from error
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"digest: {action}: {error or error.__class__.__name__}",
                                hint=CONNECTION_HINT) from error
        except UnicodeError as error:
            # The IDNA codec refuses the host name ("mail..example.org", a label over 63 characters).
            raise DeliveryError(f"digest: {action}: {self._settings.host!r} is not a valid host name ({error})",
                                hint="check host in [digest.smtp]") from error
        except ValueError as error:
            raise DeliveryError(f"digest: {action}: {error}", hint=CONNECTION_HINT) from error


@contextmanager
def _found_at_send_time(action: str) -> Iterator[None]:
    """A setting that only fails when the digest is sent (a password source
    with nothing behind it, an unreadable ca_file) is a DeliveryError: one
    message, exit code 8, retried by the service, like the server being down.

    A refused login stays an AuthenticationError (exit code 3).
    """
    try:
        yield
    except (AuthenticationError, DeliveryError):
        raise
    except UserError as error:
        message = str(error.args[0]) if error.args else error.__class__.__name__
        raise DeliveryError(f"digest: {action}: {message}", hint=error.hint) from error


def _one_line(text: str) -> str:
    """A server's answer on one line, without control characters."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _login_plain_utf8(client: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH PLAIN with UTF-8 credentials (RFC 4616).

    smtplib encodes credentials as ASCII and fails on any other character,
    so a password like "päss" is sent here by hand.
    """
    client.ehlo_or_helo_if_needed()
    if not client.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
    mechanisms = client.esmtp_features.get("auth", "").upper().split()
    if "PLAIN" not in mechanisms:
        raise smtplib.SMTPException(
            "the server offers no AUTH PLAIN, the only way to send a non-ASCII password"
        )
    token = base64.b64encode(b"\0" + username.encode() + b"\0" + password.encode()).decode("ascii")
    code, response = client.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, response)


def _quit_quietly(client: smtplib.SMTP) -> None:
    """Say QUIT, or at least drop the socket; an error here changes nothing."""
    try:
        client.quit()
    except Exception:
        try:
            client.close()
        except Exception:
            pass


def route_problem(settings: Settings) -> str | None:
    """Why ``[digest]`` names no way to send the digest, or None when it does.

    A config without ``[digest]`` (or with only what the digest lists) is
    valid, so the commands work; but the service would then fail to send
    every day. ``delivery = "none"`` says that is meant.
    """
    if settings.digest.delivery == "smtp" and settings.digest.smtp is None:
        return (
            "[digest] does not say how the digest is sent (delivery is 'smtp' but there is no [digest.smtp] "
            'section); fix: add [digest.smtp] with host = "...", or set [digest] delivery = "imap" (with '
            'append_account), "command" (e.g. command = ["msmtp", "-t"]) or "none" (no digest, only the commands)'
        )
    return None


def check_route(settings: Settings) -> str:
    """``kept check``'s look at the digest route, sending nothing; a line saying what worked.

    :raises ConfigError: when no route is configured.
    :raises AuthenticationError: when the server refuses the login.
    :raises UserError: (DeliveryError and others) when the route fails.
    """
    if settings.digest.delivery == "none":
        return 'not sent (delivery = "none")'
    return sender_for(settings).check()


def sender_for(settings: Settings) -> Sender:
    """The `Sender` that ``[digest] delivery`` asks for.

    ``"smtp"``: `SmtpSender` for ``[digest.smtp]``. ``"imap"``:
    `kept.mailboxes.append.ImapAppendSender` for the IMAP account named by
    ``append_account``. ``"command"``: `kept.mailboxes.command.CommandSender`.
    Raises ConfigError when that configuration is missing, and for ``"none"``.
    """
    digest = settings.digest
    problem = route_problem(settings)
    if problem is not None:
        raise ConfigError(str(settings.path), [problem])
    if digest.delivery == "imap":
        for account in settings.accounts:
            if isinstance(account, ImapAccount) and account.name == digest.append_account:
                return ImapAppendSender(account, secret_for(account))
        raise ConfigError(str(settings.path), [
            f"[digest] append_account {digest.append_account!r} is not one of your IMAP accounts; fix: set it to "
            'the NAME of an [accounts.NAME] section with type = "imap"'
        ])
    if digest.delivery == "command":
        return CommandSender(digest.command)
    if digest.delivery == "smtp" and digest.smtp is not None:
        if digest.smtp.auth == "oauth2":
            return SmtpSender(digest.smtp, functools.partial(smtp_access_token, digest.smtp, settings.accounts))
        return SmtpSender(digest.smtp)
    raise ConfigError(str(settings.path), [
        f'[digest] delivery = {digest.delivery!r}: kept sends no digest; fix: set delivery = "smtp", "imap" '
        'or "command" to send one'
    ])
