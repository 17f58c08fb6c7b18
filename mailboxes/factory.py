"""Choose the mail source for an account."""

from __future__ import annotations

import functools

from kept.mailboxes.base import MailSource
from kept.mailboxes.imap import ImapSource
from kept.mailboxes.maildir import MaildirSource
from kept.secrets import password_for
from kept.settings import Account, ImapAccount, MaildirAccount


def source_for(account: Account) -> MailSource:
    """The `MailSource` that reads `account`.

    The IMAP password is fetched when the source connects, not here, so a
    failing password command surfaces as that account's error during a scan.
    """
    if isinstance(account, ImapAccount):
        return ImapSource(account, functools.partial(password_for, account))
    if isinstance(account, MaildirAccount):
        return MaildirSource(account)
    raise TypeError(f"no mail source for account type {type(account).__name__}")
