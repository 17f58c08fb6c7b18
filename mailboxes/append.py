"""Deliver the digest by IMAP APPEND into the user's own inbox.

For people whose provider makes SMTP hard: the digest is put straight into
the inbox folder of one of their IMAP accounts. This is the only write kept
ever makes to a mailbox, and it only ever adds kept's own digest: nothing is
selected for writing, no flag of an existing message changes, nothing is
moved or deleted.

The connection (TLS, certificate checks, login, password redaction in
imapclient's protocol log) is the one `kept.mailboxes.imap.ImapSource` makes.
"""

from __future__ import annotations

import imaplib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

from imapclient.exceptions import IMAPClientError

from kept.errors import DeliveryError, SourceError
from kept.mailboxes.imap import ImapSource
from kept.settings import ImapAccount

__all__ = ["ImapAppendSender"]

logger = logging.getLogger(__name__)


class _AppendConnection(ImapSource):
    """An `ImapSource` connection that may also APPEND (and nothing else)."""

    def append(self, folder: str, data: bytes, message: EmailMessage) -> None:
        client = self._require_client()
        internal_date = None
        if message["Date"]:
            try:
                internal_date = parsedate_to_datetime(str(message["Date"]))
            except (TypeError, ValueError):
                internal_date = None
        with self._errors(f"cannot append the digest to {folder!r}"):
            # No flags: the digest arrives unread, like any new mail.
            client.append(folder, data, flags=(), msg_time=internal_date)

    def select(self, folder: str) -> int:
        """Open `folder` read-only (nothing changes); return how many messages it holds."""
        client = self._require_client()
        with self._errors(f"cannot open the folder {folder!r} the digest goes to"):
            response = client.select_folder(folder, readonly=True)
        return int(response.get(b"EXISTS", 0))


class ImapAppendSender:
    """Put messages into an IMAP account's inbox folder.

    :param account: the account (its ``inbox_folder`` receives the digest).
    :param password: called once per `send` to get the password.
    """

    def __init__(self, account: ImapAccount, password: Callable[[], str]) -> None:
        self._account = account
        self._password = password

    def __repr__(self) -> str:
        return f"ImapAppendSender({self._account.name}, {self._account.inbox_folder!r})"

    def send(self, message: EmailMessage) -> None:
        """APPEND `message` to the inbox folder.

        Raises AuthenticationError when the login is refused and DeliveryError
        for network and server failures.
        """
        account = self._account
        data = message.as_bytes()
        with self._delivery_errors("cannot append the digest"):
            with _AppendConnection(account, self._password) as connection:
                connection.append(account.inbox_folder, data, message)
        logger.info(
            "digest: appended %s to %s/%s",
            message.get("Message-ID", "(no Message-ID)"), account.name, account.inbox_folder,
        )

    def check(self) -> str:
        """Log in and open the inbox folder read-only, as `send` would before appending; append nothing."""
        account = self._account
        with self._delivery_errors("cannot reach the folder the digest goes to"):
            with _AppendConnection(account, self._password) as connection:
                connection.select(account.inbox_folder)
        return f"IMAP append to {account.name}/{account.inbox_folder}: ok, logged in and opened it; nothing appended"

    @contextmanager
    def _delivery_errors(self, action: str) -> Iterator[None]:
        """Network, TLS and server failures as one DeliveryError with a fix; a refused login stays itself."""
        account = self._account
        hint = (f"check host, port, security, ca_file and inbox_folder in [accounts.{account.name}] "
                f"(`kept check` tries them)")
        try:
            yield
        except DeliveryError:
            raise
        except SourceError as error:
            raise DeliveryError(str(error), hint=hint) from error
        except (OSError, imaplib.IMAP4.error, IMAPClientError) as error:
            # ImapSource maps the failures it expects; this catches any protocol error it lets through.
            raise DeliveryError(f"{account.name}: {action}: {error}", hint=hint) from error
