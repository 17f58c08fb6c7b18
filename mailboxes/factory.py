"""Choose the mail source for an account."""

from __future__ import annotations

import functools
from collections.abc import Callable

from kept.mailboxes.base import MailSource
from kept.mailboxes.imap import ImapSource
from kept.mailboxes.maildir import MaildirSource
from kept.oauth2 import IMAP_SCOPES
from kept.secrets import access_token_for, password_for
from kept.settings import Account, ExchangeAccount, ImapAccount, MaildirAccount


def secret_for(account: ImapAccount) -> Callable[[], str]:
    """What an IMAP connection logs in with: the password, or for
    ``auth = "oauth2"`` a fresh access token (SASL XOAUTH2)."""
    if account.auth == "oauth2":
        return functools.partial(access_token_for, account, IMAP_SCOPES)
    return functools.partial(password_for, account)


def source_for(account: Account) -> MailSource:
    """The `MailSource` that reads `account`.

    The password or access token is fetched when the source connects, not
    here, so a failing password command surfaces as that account's error
    during a scan.
    """
    if isinstance(account, ImapAccount):
        return ImapSource(account, secret_for(account))
    if isinstance(account, ExchangeAccount):
        # exchangelib is imported only when an Exchange account is used.
        from kept.mailboxes.exchange import ExchangeSource, credentials_factory

        return ExchangeSource(account, functools.partial(credentials_factory, account))
    if isinstance(account, MaildirAccount):
        return MaildirSource(account)
    raise TypeError(f"no mail source for account type {type(account).__name__}")
