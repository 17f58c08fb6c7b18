"""The exceptions kept raises on purpose.

::

    KeptError
     +-- UserError                 something the user can fix; shown as one line, no traceback
     |    +-- ConfigError          the config file is missing or invalid (lists every problem)
     |    +-- AuthenticationError  the server refused the credentials
     |    +-- StorageError         the database is unreadable, locked or from a newer kept
     |         +-- StorageWriteError   writing it failed (disk full); the old version is intact, retried
     +-- SourceError               a mail source failed (server down, connection cut); retried
     +-- ParseError                a message could not be read at all (never escapes a scan)

`UserError` is the only kind the CLI turns into a short message and an exit
code without a traceback; anything else reaching `kept.commands.main` is a bug and
is shown with its traceback.
"""

from __future__ import annotations

#: Exit code of `kept scan`, `kept rebuild` and `kept run --once` when some accounts could not be read.
EXIT_SCAN_FAILED = 5
#: Exit code after Ctrl-C.
EXIT_INTERRUPTED = 130


class KeptError(Exception):
    """Base class of every error kept raises on purpose."""


class UserError(KeptError):
    """An error the user can fix. `hint` says how; the CLI prints both, no traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\n  fix: {self.hint}" if self.hint else text


class ConfigError(UserError):
    """The configuration is invalid. `problems` holds one line per problem found."""

    exit_code = 2

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = list(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        body = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{path}: {count} {noun} in the configuration:\n{body}")


class AuthenticationError(UserError):
    """The mail server refused the login."""

    exit_code = 3


class StorageError(UserError):
    """The database cannot be used (corrupt, locked, unwritable or too new)."""

    exit_code = 4


class StorageWriteError(StorageError):
    """Writing the database failed (disk full, I/O error); the previous version is intact.

    Unlike a damaged or missing database this may clear by itself, so the
    daemon retries instead of stopping.
    """


class SourceError(KeptError):
    """A mail source failed in a way that retrying later may fix."""


class ParseError(KeptError):
    """A message could not be parsed at all."""
