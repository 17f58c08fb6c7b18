"""Read a Microsoft Exchange mailbox over EWS with exchangelib, strictly read-only.

This is the only module that imports exchangelib.

kept reads the well-known Inbox and Sent Items folders (or a named sent
folder). Each folder is read incrementally with ``SyncFolderItems``: one
call per batch asks for at most ``batch_size`` changes, and the
``SyncState`` the server returns with them is the batch's cursor
(``{"sync_state": "..."}``), so a scan stopped after any batch resumes
exactly there. Only new items ("Create" changes) are read; their MIME
content comes from ``GetItem``, which never changes ``IsRead`` — kept never
saves an item or calls an operation that changes the mailbox.

When the server no longer accepts the stored sync state
(``ErrorInvalidSyncStateData``, e.g. after a mailbox move) the folder is
synchronised again from nothing, in batches marked ``reset=True``, but only
messages received within ``rescan_days`` are downloaded; message ids keep
the result free of duplicates.

Microsoft is retiring EWS in Exchange Online (blocked by default from
October 2026, switched off in April 2027): use this for on-premises Exchange
Server and IMAP with OAuth2 for Microsoft 365.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import requests.adapters
import requests.exceptions
from exchangelib import (
    BaseProtocol,
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Configuration,
    Credentials,
    FailFast,
    Identity,
    OAuth2AuthorizationCodeCredentials,
    OAuth2Credentials,
    UTC,
)
from exchangelib.errors import (
    EWSError,
    ErrorFolderNotFound,
    ErrorInvalidSyncStateData,
    UnauthorizedError,
)
from exchangelib.items import ID_ONLY, Message
from exchangelib.services import GetItem, SyncFolderItems
from exchangelib.fields import FieldPath

from kept.errors import AuthenticationError, SourceError, UserError
from kept.mailboxes.base import Batch, Cursor, Folder, utc_or_none
from kept.models import RawMessage
from kept.oauth2 import EWS_SCOPES
from kept.secrets import access_token_for, password_for
from kept.settings import ExchangeAccount

logger = logging.getLogger(__name__)

INBOX_NAME = "Inbox"
SENT_NAME = "Sent Items"

# exchangelib logs whole SOAP bodies at DEBUG (message contents, tokens);
# kept's own debug logging must never switch that on by accident.
logging.getLogger("exchangelib").setLevel(logging.INFO)

#: How to check each EWS host's certificate when the account says so:
#: netloc -> CA bundle path, or False for ``insecure_skip_verify``.
_TRUST_BY_HOST: dict[str, str | bool] = {}


class _PerHostTrustAdapter(requests.adapters.HTTPAdapter):
    """Applies an account's ``ca_file`` / ``insecure_skip_verify`` to its own EWS host.

    exchangelib picks one adapter class for every connection it makes
    (``BaseProtocol.HTTP_ADAPTER_CLS``), so the choice is made per request
    from the host it goes to; every other host keeps the default checks
    against the system's authorities.
    """

    def send(  # noqa: D102 - see the class docstring
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        trust = _TRUST_BY_HOST.get(urlsplit(request.url or "").netloc.lower())
        # requests hands over True or the environment's CA bundle
        # (REQUESTS_CA_BUNDLE); the account's own setting wins for its host.
        if trust is not None and verify is not False:
            verify = trust
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


BaseProtocol.HTTP_ADAPTER_CLS = _PerHostTrustAdapter

_AUTH_TYPES = {"ntlm": NTLM, "basic": BASIC, "oauth2": OAUTH2, "oauth2-app": OAUTH2}


def credentials_factory(account: ExchangeAccount) -> Any:
    """exchangelib credentials for `account`, fetching the secret now.

    ``ntlm``/``basic``: user name and password; ``oauth2``: a delegated
    access token (token_command or the `kept auth` sign-in); ``oauth2-app``:
    client id, tenant and client secret (client credentials grant).
    """
    if account.auth == "oauth2":
        token = access_token_for(account, EWS_SCOPES)
        return OAuth2AuthorizationCodeCredentials(
            access_token={"access_token": token, "token_type": "Bearer", "scope": list(EWS_SCOPES)},
        )
    secret = password_for(account, "client secret" if account.auth == "oauth2-app" else "password")
    if account.auth == "oauth2-app":
        assert account.oauth2 is not None  # the config requires oauth2_client_id
        return OAuth2Credentials(
            client_id=account.oauth2.client_id,
            client_secret=secret,
            tenant_id=account.oauth2.tenant,
            identity=Identity(primary_smtp_address=account.email),
        )
    return Credentials(account.username, secret)


class ExchangeSource:
    """A `kept.mailboxes.base.MailSource` for one `ExchangeAccount`.

    :param account: the account's settings.
    :param credentials_factory: called once per connection; returns
        exchangelib credentials (see `credentials_factory`).
    :param now: the clock, for the bounded rescan.
    """

    def __init__(
        self,
        account: ExchangeAccount,
        credentials_factory: Callable[[], Any],
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.account = account.name
        self._config = account
        self._credentials_factory = credentials_factory
        self._now = now
        self._ews: Account | None = None
        self._folders: dict[Folder, Any] | None = None

    # -- connection -------------------------------------------------------

    def __enter__(self) -> ExchangeSource:
        config = self._config
        credentials = self._credentials_factory()
        where = config.service_endpoint or f"autodiscover for {config.email}"
        if config.service_endpoint and (config.ca_file or not config.verify_tls):
            host = urlsplit(config.service_endpoint).netloc.lower()
            if not config.verify_tls:
                logger.warning(
                    "%s: TLS certificate verification is OFF for %s; anyone on the network "
                    "can read this connection. Prefer ca_file for self-signed servers.",
                    self.account, host,
                )
                _TRUST_BY_HOST[host] = False
            else:
                _TRUST_BY_HOST[host] = str(config.ca_file)
        logger.debug("%s: connecting to %s (%s)", self.account, where, config.auth)
        with self._errors(f"cannot connect to {where}"):
            configuration = Configuration(
                credentials=credentials,
                service_endpoint=config.service_endpoint,
                auth_type=_AUTH_TYPES[config.auth],
                # The daemon has its own back-off per account; exchangelib's
                # default would retry inside one scan for up to an hour.
                retry_policy=FailFast(),
                max_connections=2,
            )
            self._ews = Account(
                primary_smtp_address=config.email,
                config=configuration,
                autodiscover=not config.service_endpoint,
                access_type=IMPERSONATION if config.auth == "oauth2-app" else DELEGATE,
                default_timezone=UTC,
            )
            # An instance attribute, so other accounts keep their own timeout.
            self._ews.protocol.TIMEOUT = config.timeout
            # Touch the server now so a wrong password fails at connect time.
            self._ews.inbox  # noqa: B018 - the property access is the check
        return self

    def __exit__(self, *exc_info: object) -> None:
        ews, self._ews = self._ews, None
        self._folders = None
        if ews is not None:
            try:
                ews.protocol.close()
            except Exception:  # closing must never raise
                pass

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn exchangelib and network failures into kept's errors naming the account."""
        config = self._config
        try:
            yield
        except UnauthorizedError as error:
            raise AuthenticationError(
                f"{self.account}: the Exchange server refused the login of {config.username!r}",
                hint=_auth_hint(config),
            ) from error
        except ErrorFolderNotFound as error:
            raise SourceError(f"{self.account}: {action}: folder not found ({error})") from error
        except (EWSError, requests.exceptions.RequestException, OSError) as error:
            raise SourceError(f"{self.account}: {action}: {error}") from error

    def _require(self) -> Account:
        if self._ews is None:
            raise SourceError(f"{self.account}: source used outside its 'with' block")
        return self._ews

    # -- folders ----------------------------------------------------------

    def folders(self) -> list[Folder]:
        """The Inbox (received) and Sent Items, or the configured sent folder."""
        ews = self._require()
        if self._folders is None:
            with self._errors("cannot open the mailbox folders"):
                inbox = ews.inbox
                if self._config.sent_folder:
                    sent = self._named_folder(ews, self._config.sent_folder)
                    sent_name = self._config.sent_folder
                else:
                    sent, sent_name = ews.sent, SENT_NAME
            self._folders = {Folder(INBOX_NAME, "received"): inbox, Folder(sent_name, "sent"): sent}
        return list(self._folders)

    def _named_folder(self, ews: Account, name: str) -> Any:
        for folder in ews.msg_folder_root.children:
            if folder.name.lower() == name.lower():
                return folder
        names = sorted(f.name for f in ews.msg_folder_root.children)
        raise UserError(
            f"{self.account}: there is no folder {name!r} at the top of the mailbox (folders: {', '.join(names)})",
            hint=f"fix sent_folder in [accounts.{self.account}], or remove it to use Sent Items",
        )

    def _ews_folder(self, folder: Folder) -> Any:
        self.folders()
        assert self._folders is not None
        try:
            return self._folders[folder]
        except KeyError:
            raise SourceError(f"{self.account}: unknown folder {folder.name!r}") from None

    # -- reading ----------------------------------------------------------

    def pending(self, folder: Folder, cursor: Cursor | None) -> int:
        """How many new items `fetch` would look at (ids only; nothing is downloaded)."""
        count = 0
        for created, _state, _reset in self._changes(folder, cursor, 512):
            count += len(created)
        return count

    def fetch(self, folder: Folder, cursor: Cursor | None, batch_size: int = 200) -> Iterator[Batch]:
        """Yield the messages created since `cursor`, one SyncFolderItems page per batch."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        cutoff = self._now() - timedelta(days=self._config.rescan_days)
        for created, state, reset in self._changes(folder, cursor, batch_size):
            messages = self._download(folder, created, cutoff if reset else None)
            yield Batch(folder, tuple(messages), {"sync_state": state}, reset=reset)

    def _changes(
        self, folder: Folder, cursor: Cursor | None, page_size: int
    ) -> Iterator[tuple[list[Any], str, bool]]:
        """Yield (ids of created items, sync state after them, reset) per page.

        Pages with no change at all are not yielded, so an up-to-date folder
        yields nothing; a folder being re-read after a reset always yields at
        least one page so the new state gets stored.
        """
        ews = self._require()
        target = self._ews_folder(folder)
        state = cursor.get("sync_state") if isinstance(cursor, dict) else None
        reset = cursor is not None and not isinstance(state, str)
        if reset:
            logger.info("%s: unusable cursor for %s, synchronising again", self.account, folder.name)
            state = None
        first = True
        while True:
            service = SyncFolderItems(account=ews)
            try:
                with self._errors(f"cannot synchronise {folder.name!r}"):
                    changes = list(service.call(
                        folder=target, shape=ID_ONLY, additional_fields=set(), sync_state=state,
                        ignore=None, max_changes_returned=page_size, sync_scope=None,
                    ))
            except SourceError as error:
                if isinstance(error.__cause__, ErrorInvalidSyncStateData) and state is not None and first:
                    logger.info(
                        "%s: the server no longer knows kept's sync state of %s; reading the last %d days again",
                        self.account, folder.name, self._config.rescan_days,
                    )
                    state, reset = None, True
                    continue
                raise
            first = False
            created = [item for change, item in changes if change == SyncFolderItems.CREATE]
            new_state = service.sync_state
            if changes or (reset and new_state != state) or (reset and state is None):
                yield created, new_state, reset
            if not changes or service.includes_last_item_in_range or new_state == state:
                return
            state = new_state

    def _download(self, folder: Folder, items: list[Any], cutoff: datetime | None) -> list[RawMessage]:
        """MIME content of `items` (GetItem never marks anything read)."""
        if not items:
            return []
        ews = self._require()
        fields = {FieldPath(field=_item_field("mime_content")), FieldPath(field=_item_field("datetime_received"))}
        messages: list[RawMessage] = []
        with self._errors(f"cannot read messages of {folder.name!r}"):
            results = list(GetItem(account=ews).call(items=items, additional_fields=fields, shape=ID_ONLY))
        for item in results:
            if isinstance(item, Exception):
                # Deleted between the sync and the download.
                logger.debug("%s: an item of %s vanished before it was read: %s", self.account, folder.name, item)
                continue
            # EWSDateTime refuses stdlib tzinfo; keep plain UTC datetimes.
            received = utc_or_none(
                item.datetime_received.timestamp() if item.datetime_received is not None else None
            )
            if cutoff is not None and received is not None and received < cutoff:
                continue
            if not item.mime_content:
                logger.warning("%s: an item of %s came without MIME content; skipped", self.account, folder.name)
                continue
            messages.append(RawMessage(
                uid=item.id,
                data=bytes(item.mime_content),
                internal_date=received,
            ))
        return messages


def _item_field(name: str) -> Any:
    return Message.get_field_by_fieldname(name)


def _auth_hint(config: ExchangeAccount) -> str:
    if config.auth == "oauth2":
        return f"the access token was refused: check token_command, or run `kept auth {config.name}` again"
    if config.auth == "oauth2-app":
        return "check oauth2_client_id, oauth2_tenant and the client secret, and the app's EWS permission"
    return (
        f"check username (DOMAIN\\\\user or the full address) and the password, and that the server "
        f"accepts auth = {config.auth!r}"
    )
