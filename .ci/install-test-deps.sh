#!/bin/sh
# Install what the tests need besides Python packages: Dovecot and openssl
# (.ci/install-dovecot.sh) and headless Chromium, which opens the digest
# built from hostile mail (tests/test_digest_browser.py), and systemd's
# systemd-analyze, which checks systemd/kept.service (tests/test_systemd_unit.py;
# the package is only installed, nothing is started).
# Idempotent: installs only what is missing.
set -eu

if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi

sh "$(dirname "$0")/install-dovecot.sh"

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi

if ! command -v systemd-analyze >/dev/null 2>&1; then
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd
fi
