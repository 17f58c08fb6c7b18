"""Where passwords and OAuth2 access tokens come from.

A password comes from exactly one of:

``password_env``
    an environment variable;
``password_command``
    a shell command such as ``pass show mail/work`` whose first line of
    output is the password;
``password_keyring = true``
    the system keyring (Secret Service, macOS Keychain, Windows Credential
    Locker), service ``"kept"``, user name = the account name (``"digest.smtp"``
    for the SMTP server). Store it once with
    ``keyring set kept ACCOUNT``;
``password``
    plaintext in the config file, which `kept.config` accepts only when the
    file is private (mode 0600) and ``allow_plaintext_password = true``.

An OAuth2 access token (``auth = "oauth2"``) comes from ``token_command`` (a
program printing a fresh token, e.g. ``oauth2l fetch --json ... | jq``) or
from the built-in Microsoft sign-in in `kept.oauth2`.

Nothing here logs a secret.
"""

from __future__ import annotations

import logging
import os
import subprocess
from typing import Any

from kept.errors import UserError
from kept.oauth2 import cached_access_token
from kept.settings import ExchangeAccount, ImapAccount

logger = logging.getLogger(__name__)

PASSWORD_COMMAND_TIMEOUT = 30.0
KEYRING_SERVICE = "kept"


def password_for(account: ImapAccount | ExchangeAccount, what: str = "password") -> str:
    """Return the password of `account` (an account, or the `ImapAccount`
    stand-in `kept.mailboxes.smtp` builds for ``[digest.smtp]``).

    Raises UserError (with a hint) when the variable is unset or empty, the
    command fails, times out or prints nothing, the keyring has no entry, or
    no source is set.
    """
    if account.password_env:
        value = os.environ.get(account.password_env, "")
        if not value:
            raise UserError(
                f"{account.name}: environment variable {account.password_env} is not set or empty",
                hint=f"export {account.password_env}=... before starting kept, "
                "or use password_command instead",
            )
        return value
    if account.password_command:
        return run_secret_command(account.name, "password_command", account.password_command, what)
    if account.password_keyring:
        return keyring_password(account.name)
    if account.password:
        return account.password
    raise UserError(
        f"{account.name}: no {what} source configured",
        hint=f'set password_env = "VARIABLE", password_command = "..." or password_keyring = true '
        f"in [{_section(account.name)}]",
    )


def keyring_usable() -> bool:
    """True if the keyring library has a backend that can keep secrets on this machine.

    On a server without a desktop session there is no Secret Service, and
    keyring falls back to its "fail" backend (priority 0), which refuses
    every read and write.
    """
    # keyring (60 ms, its backends found through entry points) loads only when it is asked about.
    import keyring
    from keyring.backends import fail, null

    try:
        backend = keyring.get_keyring()
        if isinstance(backend, (fail.Keyring, null.Keyring)):
            return False
        return float(backend.priority) > 0
    except Exception:  # a backend named in keyringrc that cannot load here
        logger.debug("the keyring backend is not usable", exc_info=True)
        return False


def keyring_password(name: str) -> str:
    """The password stored in the system keyring for account `name`."""
    import keyring  # loaded only when a keyring password is read, see keyring_usable
    from keyring.errors import KeyringError

    try:
        value = keyring.get_password(KEYRING_SERVICE, name)
    except (KeyringError, RuntimeError) as error:
        raise UserError(
            f"{name}: cannot read the system keyring: {error}",
            hint="unlock the keyring (log in to a desktop session), or use password_command instead",
        ) from error
    if not value:
        raise UserError(
            f"{name}: the system keyring has no password for service {KEYRING_SERVICE!r}, user {name!r}",
            hint=f"store it with: keyring set {KEYRING_SERVICE} {name}",
        )
    return value


def access_token_for(account: ImapAccount | ExchangeAccount, scopes: tuple[str, ...]) -> str:
    """An OAuth2 access token for `account`: its token_command, else the
    built-in Microsoft sign-in (refreshed silently from the keyring).

    Raises UserError when the command fails, AuthenticationError when the
    account has never been signed in with `kept auth` or the sign-in expired.
    """
    if account.token_command:
        return run_secret_command(account.name, "token_command", account.token_command, "access token")
    oauth2 = account.oauth2
    if oauth2 is None:
        raise UserError(
            f"{account.name}: auth = \"oauth2\" but neither token_command nor oauth2_client_id is set",
            hint=f"set token_command = \"...\" or oauth2_client_id in [{_section(account.name)}]",
        )
    return cached_access_token(account.name, oauth2, scopes)


def mechanism(account: Any) -> str:
    """Say how `account` signs in, naming the variable, command or keyring
    entry but never the secret (for `kept check`)."""
    auth = getattr(account, "auth", "password")
    if auth == "oauth2":
        if getattr(account, "token_command", None):
            return "OAuth2 access token from token_command"
        if getattr(account, "oauth2", None) is not None:
            return f"OAuth2 Microsoft sign-in kept in the system keyring (`kept auth {account.name}`)"
        if getattr(account, "oauth2_account", ""):
            return f"OAuth2 sign-in of account {account.oauth2_account!r}"
        return "OAuth2 (no token source)"
    label = {"ntlm": "NTLM ", "basic": "basic auth ", "oauth2-app": "OAuth2 client credentials, secret "}.get(
        auth, ""
    )
    if getattr(account, "password_env", None):
        return f"{label}password from environment variable {account.password_env}"
    if getattr(account, "password_command", None):
        return f"{label}password from password_command"
    if getattr(account, "password_keyring", False):
        return f"{label}password from the system keyring (service {KEYRING_SERVICE!r}, user {account.name!r})"
    if getattr(account, "password", None):
        return f"{label}plaintext password in the config file"
    return "no password"


def run_secret_command(name: str, key: str, command: str, what: str = "password") -> str:
    """Run `command` and return the first line it prints.

    Only the first line of stderr ever reaches an error message; stdout (the
    secret) never does.
    """
    logger.debug("%s: running %s", name, key)
    try:
        completed = subprocess.run(
            command,
            shell=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PASSWORD_COMMAND_TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        raise UserError(
            f"{name}: {key} did not finish within {PASSWORD_COMMAND_TIMEOUT:.0f} s",
            hint="make sure the command does not wait for input (unlock the keyring or agent first)",
        ) from error
    except OSError as error:
        raise UserError(
            f"{name}: cannot run {key}: {error}",
            hint=f"check the command in {key}",
        ) from error
    if completed.returncode != 0:
        stderr_lines = completed.stderr.decode(errors="replace").strip().splitlines()
        detail = stderr_lines[0].strip() if stderr_lines else "no error output"
        raise UserError(
            f"{name}: {key} failed with exit status {completed.returncode}: {detail}",
            hint=f"run the command by hand to see what it needs, then fix {key}",
        )
    lines = completed.stdout.decode(errors="replace").splitlines()
    secret = lines[0].rstrip("\r") if lines else ""
    if what != "password":
        # Spaces may belong to a password, never to a token.
        secret = secret.strip()
    if not secret:
        raise UserError(
            f"{name}: {key} printed no {what}",
            hint=f"the command must print the {what} on its first line of output",
        )
    return secret


def _section(name: str) -> str:
    return name if name.startswith("digest.") else f"accounts.{name}"

