#!/bin/sh
# Install the Dovecot IMAP server and openssl that tests/dovecot.py runs.
# Idempotent: does nothing when both are already there.
set -eu

if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi

missing=
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || missing="$missing dovecot-imapd"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"

if [ -n "$missing" ]; then
    $SUDO apt-get update
    # shellcheck disable=SC2086  # the package list is meant to split
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi

# The tests start their own Dovecot on free ports; the system service the
# package may have started is not needed.
/usr/sbin/dovecot --version
