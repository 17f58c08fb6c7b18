"""TLS client contexts for every connection kept makes (IMAP, SMTP).

One place decides how certificates are checked: always, against the system's
authorities plus an optional ``ca_file``; turning checks off takes an
explicit ``insecure_skip_verify = true`` and is logged as a warning on every
connection, never silently.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from kept.errors import UserError

logger = logging.getLogger(__name__)


def client_context(*, ca_file: Path | None, verify: bool, who: str, host: str) -> ssl.SSLContext:
    """A client SSLContext for a connection to `host`.

    :param ca_file: extra CA bundle to trust, or None.
    :param verify: False only when the user set ``insecure_skip_verify``.
    :param who: what connects, for messages ("work", "digest.smtp").
    :raises UserError: when `ca_file` cannot be read.
    """
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as error:
        raise UserError(
            f"{who}: cannot read ca_file {str(ca_file)!r}: {error}",
            hint="point ca_file at a PEM file with the server's certificate or CA",
        ) from error
    if not verify:
        logger.warning(
            "%s: TLS certificate verification is OFF for %s; anyone on the network "
            "can read this connection. Prefer ca_file for self-signed servers.",
            who,
            host,
        )
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
