"""The exceptions kept raises on purpose.

::

    KeptError
     +-- UserError                 something the user can fix; shown as one line, no traceback
     |    +-- ConfigError          the config file is missing or invalid (lists every problem)
     |    +-- AuthenticationError  the server refused the credentials
     |    +-- StorageError         the database is unreadable, locked or from a newer kept
     |         +-- StorageWriteError   writing it failed (disk full); the old version is intact, retried
     |         +-- DatabaseBusyError   another kept command is writing to it (exit code 7)
     |    +-- NotConfirmedError    kept rebuild / kept forget got no yes (exit code 9)
     +-- SourceError               a mail source failed (server down, connection cut); retried
     |    +-- DeliveryError        the digest could not be delivered (also a UserError, exit code 8)
     +-- ParseError                a message could not be read at all (never escapes a scan)

`UserError` is the only kind the CLI turns into a short message and an exit
code without a traceback; anything else reaching `kept.commands.main` is a bug and
is shown with its traceback.
"""

from __future__ import annotations

#: Exit code of a `UserError` that has no code of its own.
EXIT_USER_ERROR = 1
#: Exit code of a `ConfigError` (and of argparse's usage errors).
EXIT_CONFIG = 2
#: Exit code of an `AuthenticationError`.
EXIT_LOGIN_REFUSED = 3
#: Exit code of a `StorageError`.
EXIT_DATABASE = 4
#: Exit code of `kept scan`, `kept rebuild`, `kept run --once` and `kept check` when an account could not be read.
EXIT_SCAN_FAILED = 5
#: Exit code of `kept check` when a language model cannot be loaded.
EXIT_MODEL = 6
#: Exit code of a `DatabaseBusyError`: another kept command is writing to the database.
EXIT_DATABASE_BUSY = 7
#: Exit code of a `DeliveryError`: the digest could not be delivered (or, in `kept check`, its route fails).
EXIT_DELIVERY = 8
#: Exit code of a `NotConfirmedError`: a command that changes the database wholesale got no yes.
EXIT_NOT_CONFIRMED = 9
#: Exit code after Ctrl-C.
EXIT_INTERRUPTED = 130

#: Every exit code of the ``kept`` command and what it means: the one table
#: `kept --help` shows (its epilog) and `kept.commands` documents.
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "success"),
    (EXIT_USER_ERROR, "a wrong argument: an unknown id, account or date"),
    (EXIT_CONFIG, "the configuration (or the command line) is wrong"),
    (EXIT_LOGIN_REFUSED, "a mail server refused the login"),
    (EXIT_DATABASE, "the database cannot be used (damaged, locked, missing, unwritable)"),
    (EXIT_SCAN_FAILED, "an account could not be read (the others were)"),
    (EXIT_MODEL, "a language model is missing or damaged (kept check)"),
    (EXIT_DATABASE_BUSY, "another kept command is writing to the database (it says which); try again"),
    (EXIT_DELIVERY, "the digest could not be delivered (server unreachable, certificate, refused)"),
    (EXIT_NOT_CONFIRMED, "not confirmed: kept rebuild and kept forget ask first (--yes answers for you)"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
)


def exit_code_table(indent: str = "  ") -> str:
    """`EXIT_CODES` as aligned lines, one per code."""
    return "\n".join(f"{indent}{code:<5}{meaning}" for code, meaning in EXIT_CODES)


class KeptError(Exception):
    """Base class of every error kept raises on purpose."""


class UserError(KeptError):
    """An error the user can fix. `hint` says how; the CLI prints both, no traceback."""

    exit_code = EXIT_USER_ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\n  fix: {self.hint}" if self.hint else text


class ConfigError(UserError):
    """The configuration is invalid. `problems` holds one line per problem found."""

    exit_code = EXIT_CONFIG

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = list(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        body = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{path}: {count} {noun} in the configuration:\n{body}")


class AuthenticationError(UserError):
    """The mail server refused the login."""

    exit_code = EXIT_LOGIN_REFUSED


class StorageError(UserError):
    """The database cannot be used (corrupt, locked, unwritable or too new)."""

    exit_code = EXIT_DATABASE


class StorageWriteError(StorageError):
    """Writing the database failed (disk full, I/O error); the previous version is intact.

    Unlike a damaged or missing database this may clear by itself, so the
    daemon retries instead of stopping.
    """


class DatabaseBusyError(StorageError):
    """Another kept process holds the database's writer lock (`kept.storage.instance_lock`).

    Its own exit code, so a script can tell "try again in a moment" from a
    damaged database.
    """

    exit_code = EXIT_DATABASE_BUSY


class NotConfirmedError(UserError):
    """``kept rebuild`` or ``kept forget`` was not confirmed: the answer was no, or nobody could be asked.

    Its own exit code, so a script that forgot ``--yes`` can tell "nothing
    was done" from a failure.
    """

    exit_code = EXIT_NOT_CONFIRMED


class SourceError(KeptError):
    """A mail source failed in a way that retrying later may fix."""


class DeliveryError(UserError, SourceError):
    """The digest could not be delivered: the server cannot be reached, its
    certificate is not trusted, it refused the message, the delivery command
    failed, or a setting of the route fails only when sending (a password
    source with nothing behind it, an unreadable ca_file, a bad host name).

    A `UserError` because the CLI shows it as one message with a fix (often
    the fix is in ``[digest]``); a `SourceError` because the service retries
    it, as trying again later may work.
    """

    exit_code = EXIT_DELIVERY


class ParseError(KeptError):
    """A message could not be parsed at all."""
