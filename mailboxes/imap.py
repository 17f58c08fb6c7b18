"""Read an IMAP account, strictly read-only.

Folders are opened with EXAMINE (``select_folder(readonly=True)``) and
messages fetched with ``BODY.PEEK[]``, so the server never sets ``\\Seen`` or
any other flag on the user's mail.

The cursor of a folder is ``{"uidvalidity": int, "last_uid": int}``. When the
server's UIDVALIDITY differs from the cursor's, the old UIDs mean nothing any
more and the folder is read again from the start in batches marked
``reset=True``.
"""

from __future__ import annotations

import imaplib
import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Self

import imapclient
from imapclient.exceptions import IMAPClientError, LoginError

from kept.errors import AuthenticationError, SourceError, UserError
from kept.mailboxes.base import Batch, Cursor, Folder, utc_or_none
from kept.mailboxes.tls import client_context
from kept.models import RawMessage
from kept.settings import ImapAccount

logger = logging.getLogger(__name__)

# Tried in this order, case-insensitively, when the server marks no folder \Sent.
SENT_FOLDER_NAMES = ("Sent", "Sent Items", "Sent Messages", "[Gmail]/Sent Mail", "INBOX.Sent")

# RFC 6154 SPECIAL-USE attribute of the sent folder (lower-cased for comparison).
SENT_FLAG = b"\\sent"

FETCH_ITEMS = ["BODY.PEEK[]", "INTERNALDATE"]
BODY_KEY = b"BODY[]"

#: Messages asked for in one ``SEARCH``. The answer is one line, and
#: imaplib refuses a line over 1,000,000 bytes: a first scan of a folder of
#: some 140,000 messages (a 20-year sent folder) asked for all at once
#: failed there. 50,000 UIDs of up to ten digits make at most 550 KB.
UID_SEARCH_WINDOW = 50_000


class _SecretRedactor(logging.Filter):
    """Blanks out log records of imapclient's protocol trace that contain a password.

    imapclient already redacts ``LOGIN`` lines, but a password with
    non-ASCII characters is sent as a literal on a continuation line that
    does not mention LOGIN, so this filter looks for the secrets themselves.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: dict[str, int] = {}

    def add(self, secret: str) -> None:
        if secret:
            with self._lock:
                self._secrets[secret] = self._secrets.get(secret, 0) + 1

    def discard(self, secret: str) -> None:
        with self._lock:
            count = self._secrets.get(secret, 0) - 1
            if count > 0:
                self._secrets[secret] = count
            else:
                self._secrets.pop(secret, None)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a broken record must not break logging
            return True
        with self._lock:
            secrets = list(self._secrets)
        if any(secret in text for secret in secrets):
            record.msg = "**REDACTED** (line contained a password)"
            record.args = ()
        return True


class _MailContentFilter(logging.Filter):
    """Keeps mail out of imaplib's protocol trace (``kept -vv``).

    imaplib logs every FETCH response it stores, literal included, so the
    trace would hold whole messages; those records are shortened to their
    size. Commands and status lines stay, for debugging.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a broken record must not break logging
            return True
        if text.startswith("untagged_responses[FETCH]"):
            record.msg = "untagged_responses[FETCH] (%d characters of mail, not logged)"
            record.args = (len(text),)
        return True


_redactor = _SecretRedactor()
for _name in ("imapclient.imaplib", "imapclient.imapclient", "imapclient"):
    logging.getLogger(_name).addFilter(_redactor)
logging.getLogger("imapclient.imaplib").addFilter(_MailContentFilter())


class ImapSource:
    """A `kept.mailboxes.base.MailSource` for one `ImapAccount`.

    :param account: the account's settings.
    :param password: called once per connection to get the password, so a
        password command runs only when it is needed.
    """

    def __init__(self, account: ImapAccount, password: Callable[[], str]) -> None:
        self.account = account.name
        self._config = account
        self._password = password
        self._client: imapclient.IMAPClient | None = None
        self._secret: str | None = None
        self._folders: list[Folder] | None = None

    # -- connection -------------------------------------------------------

    def __enter__(self) -> Self:
        config = self._config
        context = self._ssl_context()
        logger.debug("%s: connecting to %s:%d (%s)", self.account, config.host, config.port, config.security)
        with self._errors(f"cannot connect to {config.host}:{config.port}"):
            client = imapclient.IMAPClient(
                config.host,
                port=config.port,
                ssl=config.security == "tls",
                ssl_context=context,
                timeout=config.timeout,
            )
        try:
            # Keep INTERNALDATE tz-aware instead of naive local time.
            client.normalise_times = False
            if config.security == "starttls":
                with self._errors(f"STARTTLS with {config.host}:{config.port} failed"):
                    client.starttls(context)
            self._client = client
            self._login(client)
        except BaseException:
            self._client = None
            self._forget_secret()
            _close_quietly(client)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        client, self._client = self._client, None
        self._folders = None
        if client is not None:
            _close_quietly(client)
        self._forget_secret()

    def _ssl_context(self) -> ssl.SSLContext:
        config = self._config
        return client_context(ca_file=config.ca_file, verify=config.verify_tls, who=self.account, host=config.host)

    def _login(self, client: imapclient.IMAPClient) -> None:
        """Authenticate on a connected client.

        This is the one place that knows how the account logs in: LOGIN or
        SASL PLAIN with a password, or SASL XOAUTH2 with an access token
        (``auth = "oauth2"``), which `_password` then returns.
        """
        config = self._config
        password = self._password()
        self._secret = password
        _redactor.add(password)
        try:
            if config.auth == "oauth2":
                # SASL XOAUTH2 (Gmail, Microsoft 365); the "password" is an access token.
                client.oauth2_login(config.username, password)
            elif (config.username + password).isascii():
                client.login(config.username, password)
            else:
                # LOGIN can only carry ASCII; SASL PLAIN sends UTF-8.
                client.plain_login(config.username, password)
        except LoginError as error:
            if config.auth == "oauth2":
                hint = (
                    "the access token was refused: check that token_command prints a fresh token for "
                    f"this user, or run `kept auth {self.account}` again"
                )
            else:
                hint = "check the password (password_env, password_command or keyring) for this account"
            raise AuthenticationError(
                f"{self.account}: the server {config.host} refused the login of user "
                f"{config.username!r}",
                hint=hint,
            ) from error
        except (OSError, imaplib.IMAP4.abort, IMAPClientError) as error:
            raise SourceError(f"{self.account}: login to {config.host} failed: {error}") from error
        logger.debug("%s: logged in as %s", self.account, config.username)

    def _forget_secret(self) -> None:
        if self._secret is not None:
            _redactor.discard(self._secret)
            self._secret = None

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn network and protocol failures into SourceError naming the account."""
        try:
            yield
        except ssl.SSLCertVerificationError as error:
            raise SourceError(
                f"{self.account}: {action}: the server certificate is not trusted "
                f"({error.verify_message}); set ca_file to its certificate"
            ) from error
        except (OSError, imaplib.IMAP4.abort, IMAPClientError) as error:
            raise SourceError(f"{self.account}: {action}: {error}") from error

    def _require_client(self) -> imapclient.IMAPClient:
        if self._client is None:
            raise SourceError(f"{self.account}: source used outside its 'with' block")
        return self._client

    # -- folders ----------------------------------------------------------

    def folders(self) -> list[Folder]:
        """The inbox and extra received folders, and the sent folder.

        Raises SourceError when a configured folder does not exist, and
        UserError when no sent folder can be found.
        """
        if self._folders is not None:
            return list(self._folders)
        client = self._require_client()
        config = self._config
        listing: list[tuple[tuple[bytes, ...], bytes, str]]  # imapclient is untyped
        with self._errors("cannot list folders"):
            listing = client.list_folders()
        names = [name for _flags, _delimiter, name in listing]
        by_lower = {name.lower(): name for name in names}

        def existing(name: str) -> str:
            # INBOX is case-insensitive by RFC 3501; other names we match
            # loosely too, as users type them from memory.
            found = by_lower.get(name.lower())
            if found is None:
                raise SourceError(
                    f"{self.account}: folder {name!r} does not exist on {config.host} "
                    f"(folders: {_short_list(names)})"
                )
            return found

        sent = existing(config.sent_folder) if config.sent_folder else self._find_sent(listing)
        received: list[str] = []
        for name in (config.inbox_folder, *config.received_folders):
            actual = existing(name)
            if actual != sent and actual not in received:
                received.append(actual)
        result = [Folder(name, "received") for name in received] + [Folder(sent, "sent")]
        logger.debug("%s: folders %s", self.account, result)
        self._folders = result
        return list(result)

    def _find_sent(self, listing: list[tuple[tuple[bytes, ...], bytes, str]]) -> str:
        for flags, _delimiter, name in listing:
            if any(flag.lower() == SENT_FLAG for flag in flags):
                logger.debug("%s: sent folder %r found by its \\Sent flag", self.account, name)
                return name
        by_lower = {name.lower(): name for _flags, _delimiter, name in listing}
        for candidate in SENT_FOLDER_NAMES:
            found = by_lower.get(candidate.lower())
            if found is not None:
                logger.debug("%s: sent folder %r found by name", self.account, found)
                return found
        names = [name for _flags, _delimiter, name in listing]
        raise UserError(
            f"{self.account}: cannot find the sent folder on {self._config.host} "
            f"(folders: {_short_list(names)})",
            hint=f'set sent_folder = "..." in [accounts.{self.account}]',
        )

    # -- reading ----------------------------------------------------------

    def pending(self, folder: Folder, cursor: Cursor | None) -> int:
        """How many messages `fetch` would return for this cursor."""
        _uidvalidity, uids, _reset = self._new_uids(folder, cursor)
        return len(uids)

    def fetch(
        self, folder: Folder, cursor: Cursor | None, batch_size: int = 200
    ) -> Iterator[Batch]:
        """Yield the messages past `cursor`, one FETCH per batch of `batch_size` UIDs."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        client = self._require_client()
        uidvalidity, uids, reset = self._new_uids(folder, cursor)
        if reset:
            logger.info(
                "%s: UIDVALIDITY of %s changed, reading the folder again", self.account, folder.name
            )
            if not uids:
                yield Batch(folder, (), {"uidvalidity": uidvalidity, "last_uid": 0}, reset=True)
                return
        for start in range(0, len(uids), batch_size):
            chunk = uids[start : start + batch_size]
            with self._errors(f"cannot fetch from {folder.name!r}"):
                response = client.fetch(chunk, FETCH_ITEMS)
            messages = []
            for uid in chunk:
                message = self._raw_message(folder, uid, response.get(uid))
                if message is not None:
                    messages.append(message)
            yield Batch(
                folder,
                tuple(messages),
                {"uidvalidity": uidvalidity, "last_uid": chunk[-1]},
                reset=reset,
            )

    def _new_uids(self, folder: Folder, cursor: Cursor | None) -> tuple[int, list[int], bool]:
        """Examine `folder`; return its UIDVALIDITY, the UIDs past the cursor, and
        whether the cursor was dropped."""
        client = self._require_client()
        with self._errors(f"cannot open folder {folder.name!r}"):
            status = client.select_folder(folder.name, readonly=True)
        uidvalidity = int(status[b"UIDVALIDITY"])
        last_uid = 0
        reset = False
        if cursor is not None:
            if cursor.get("uidvalidity") == uidvalidity and isinstance(cursor.get("last_uid"), int):
                last_uid = cursor["last_uid"]
            else:
                reset = True
        if not status.get(b"EXISTS"):
            return uidvalidity, [], reset
        uidnext = status.get(b"UIDNEXT")
        if uidnext is not None and int(uidnext) <= last_uid + 1:
            return uidvalidity, [], reset
        found: list[int] = []
        exists = int(status[b"EXISTS"])
        wanted = ["UID", f"{last_uid + 1}:*"]
        with self._errors(f"cannot search folder {folder.name!r}"):
            if exists <= UID_SEARCH_WINDOW:
                found += client.search(wanted)
            else:
                # Window by message number, so the number of searches follows
                # the folder's size, not how high its UIDs run (Zimbra's are
                # mailbox-wide); the last window also catches mail that
                # arrived since the SELECT.
                for low in range(1, exists + 1, UID_SEARCH_WINDOW):
                    high = "*" if low + UID_SEARCH_WINDOW > exists else str(low + UID_SEARCH_WINDOW - 1)
                    found += client.search([f"{low}:{high}", *wanted])
        # "N:*" always includes the highest UID, even when it is below N.
        return uidvalidity, sorted({uid for uid in found if uid > last_uid}), reset

    def _raw_message(self, folder: Folder, uid: int, item: dict[bytes, Any] | None) -> RawMessage | None:
        if item is None:
            # Expunged by another client between SEARCH and FETCH.
            logger.debug("%s: %s UID %d vanished before it was fetched", self.account, folder.name, uid)
            return None
        data = item.get(BODY_KEY)
        if not isinstance(data, bytes):
            logger.warning("%s: %s UID %d came without a body; skipped", self.account, folder.name, uid)
            return None
        internal_date = item.get(b"INTERNALDATE")
        return RawMessage(
            uid=str(uid), data=data,
            internal_date=utc_or_none(internal_date) if isinstance(internal_date, datetime) else None,
        )


def _close_quietly(client: imapclient.IMAPClient) -> None:
    """Log out, or at least drop the socket; an error here changes nothing."""
    try:
        client.logout()
    except Exception:
        try:
            client.shutdown()
        except Exception:
            pass


def _short_list(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(name) for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
