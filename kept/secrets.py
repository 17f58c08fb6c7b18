"""Where IMAP passwords come from: an environment variable or a command.

kept never stores a password. The configuration names either
``password_env`` (an environment variable) or ``password_command`` (a shell
command such as ``pass show mail/work`` whose first line of output is the
password). Nothing here logs the secret.
"""

from __future__ import annotations

import logging
import os
import subprocess

from kept.errors import UserError
from kept.settings import ImapAccount

logger = logging.getLogger(__name__)

PASSWORD_COMMAND_TIMEOUT = 30.0


def password_for(account: ImapAccount) -> str:
    """Return the password of `account`.

    Raises UserError (with a hint) when the variable is unset or empty, the
    command fails, times out or prints nothing, or neither source is set.
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
        return _run_password_command(account)
    raise UserError(
        f"{account.name}: no password source configured",
        hint=f'set password_env = "VARIABLE" or password_command = "..." in [accounts.{account.name}]',
    )


def _run_password_command(account: ImapAccount) -> str:
    command = account.password_command or ""
    logger.debug("%s: running password_command", account.name)
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
            f"{account.name}: password_command did not finish within {PASSWORD_COMMAND_TIMEOUT:.0f} s",
            hint="make sure the command does not wait for input (unlock the keyring or agent first)",
        ) from error
    except OSError as error:
        raise UserError(
            f"{account.name}: cannot run password_command: {error}",
            hint="check the command in password_command",
        ) from error
    if completed.returncode != 0:
        stderr_lines = completed.stderr.decode(errors="replace").strip().splitlines()
        detail = stderr_lines[0].strip() if stderr_lines else "no error output"
        raise UserError(
            f"{account.name}: password_command failed with exit status {completed.returncode}: {detail}",
            hint="run the command by hand to see what it needs, then fix password_command",
        )
    lines = completed.stdout.decode(errors="replace").splitlines()
    password = lines[0].rstrip("\r") if lines else ""
    if not password:
        raise UserError(
            f"{account.name}: password_command printed no password",
            hint="the command must print the password on its first line of output",
        )
    return password
