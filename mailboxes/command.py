"""Send the digest through a local mail program: ``delivery = "command"``.

For people who already have ``msmtp``, ``sendmail`` or another MTA set up:
``command = ["msmtp", "-t"]`` in ``[digest]``. The whole message goes to the
program's standard input, with plain newlines as sendmail expects; the
program reads the recipients from the message's To: header (that is what
``-t`` asks of msmtp and sendmail). No shell is involved: the list is the
program and its arguments.

A program that cannot be started, runs longer than `TIMEOUT` or exits with
anything but 0 is a `kept.errors.DeliveryError` quoting the last line it
wrote to stderr (escaped: it may echo a header of the message).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from email.message import EmailMessage

from kept.errors import DeliveryError

__all__ = ["CommandSender", "TIMEOUT"]

logger = logging.getLogger(__name__)

#: Seconds the program may take to accept one message.
TIMEOUT = 120.0
# The most of the program's stderr quoted in an error.
QUOTED_CHARS = 300


class CommandSender:
    """Pipe messages into a program such as ``msmtp -t`` or ``sendmail -t``.

    :param command: the program and its arguments (``[digest] command``).
    :param timeout: seconds the program may run per message.
    """

    def __init__(self, command: tuple[str, ...], timeout: float = TIMEOUT) -> None:
        if not command or not command[0]:
            raise ValueError("CommandSender needs a program to run")
        self._command = command
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"CommandSender({self._command[0]!r})"

    def send(self, message: EmailMessage) -> None:
        """Run the program with `message` on its stdin; raise DeliveryError unless it exits with 0."""
        program = self._command[0]
        # sendmail and msmtp read lines ending in a plain newline.
        data = message.as_bytes(policy=message.policy.clone(linesep="\n"))
        logger.debug("digest: running %s", program)
        try:
            done = subprocess.run(
                list(self._command), input=data, capture_output=True, timeout=self._timeout, check=False,
            )
        except FileNotFoundError as error:
            raise DeliveryError(f"digest: cannot run {program!r}: not found", hint=self._missing_hint()) from error
        except subprocess.TimeoutExpired as error:
            raise DeliveryError(
                f"digest: {program!r} did not finish within {self._timeout:.0f} s",
                hint="run the command by hand to see what it waits for (kept digest --preview --eml FILE "
                     "writes the message to try it with)",
            ) from error
        except OSError as error:
            raise DeliveryError(f"digest: cannot run {program!r}: {error.strerror or error}",
                                hint=self._missing_hint()) from error
        if done.returncode != 0:
            said = _last_line(done.stderr) or _last_line(done.stdout)
            raise DeliveryError(
                f"digest: {program!r} exited with {done.returncode}" + (f": {said}" if said else ""),
                hint=f"try it by hand: kept digest --preview --eml digest.eml; {program} ... < digest.eml",
            )
        logger.info("digest: handed %s to %s", message.get("Message-ID", "(no Message-ID)"), program)

    def check(self) -> str:
        """Find the program without running it (running it would send mail); say where it is."""
        program = self._command[0]
        found = shutil.which(program)
        if found is None:
            raise DeliveryError(f"digest: cannot find the program {program!r}", hint=self._missing_hint())
        return f"command {found}: found; not run (it would send the digest)"

    def _missing_hint(self) -> str:
        return (f"install {self._command[0]!r}, or set [digest] command to its full path, "
                'e.g. command = ["/usr/bin/msmtp", "-t"]')


def _last_line(output: bytes) -> str:
    """The last non-empty line of a program's output, escaped and shortened."""
    lines = [line for line in output.decode("utf-8", "replace").splitlines() if line.strip()]
    if not lines:
        return ""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in lines[-1].strip())
    return text if len(text) <= QUOTED_CHARS else text[: QUOTED_CHARS - 1] + "…"
