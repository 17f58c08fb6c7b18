"""``kept init``, ``kept auth``, ``kept check``: getting an installation working."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from kept.commands.common import open_store
from kept.config import default_config_path, load_settings
from kept.errors import (
    EXIT_CONFIG, EXIT_DATABASE, EXIT_DELIVERY, EXIT_LOGIN_REFUSED, EXIT_MODEL, EXIT_SCAN_FAILED, AuthenticationError,
    ConfigError, KeptError, UserError,
)
from kept.settings import Settings


def cmd_init(args: argparse.Namespace) -> int:
    """Write a commented config file to the platform config folder; never overwrite.

    It carries the system's time zone and ``--address``; with ``--provider``,
    passwords come from the keyring, or from ``pass`` on a machine whose
    keyring has no usable backend.
    """
    path = Path(args.config).expanduser() if args.config else default_config_path()
    if path.exists():
        raise UserError(
            f"{path} already exists; kept never overwrites a config",
            f"edit it, or check it with `kept check --config {path}`",
        )
    from kept.presets import EXAMPLE_ADDRESS, render_config, render_example, system_timezone
    from kept.secrets import keyring_usable

    zone = system_timezone()
    address = args.address.strip() if args.address else None
    if getattr(args, "provider", None):
        text = render_config(args.provider, address or EXAMPLE_ADDRESS, timezone=zone, keyring=keyring_usable())
    else:
        text = render_example(address, timezone=zone)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    edit = "[accounts.*]" if address else "addresses and [accounts.*]"
    print(f"Wrote {path} (time zone {zone})\nNext: edit it ({edit}), then run `kept check`.")
    return 0


def cmd_auth(args: argparse.Namespace) -> int:
    """``kept auth ACCOUNT``: the Microsoft 365 device-code sign-in; the refresh
    token goes to the system keyring."""
    from kept.oauth2 import EWS_SCOPES, IMAP_SCOPES, SMTP_SCOPES, device_sign_in

    settings = load_settings(args.config_path)
    account = next((a for a in settings.accounts if a.name == args.account), None)
    if account is None:
        names = ", ".join(a.name for a in settings.accounts)
        raise UserError(f"there is no account {args.account!r}", f"use one of: {names}")
    oauth2 = getattr(account, "oauth2", None)
    if oauth2 is None or getattr(account, "auth", "") != "oauth2":
        raise UserError(
            f"account {account.name} does not use the built-in Microsoft sign-in",
            f'set auth = "oauth2" and oauth2_client_id = "..." in [accounts.{account.name}]',
        )
    scopes: tuple[str, ...] = EWS_SCOPES if account.type == "exchange" else IMAP_SCOPES
    smtp = settings.digest.smtp
    if account.type == "imap" and smtp is not None and smtp.auth == "oauth2" and smtp.oauth2_account == account.name:
        # One sign-in covers reading (IMAP) and sending the digest (SMTP).
        scopes = IMAP_SCOPES + SMTP_SCOPES
    user = device_sign_in(account.name, oauth2, scopes, show=print)
    print(f"Signed in{' as ' + user if user else ''}; the refresh token is in the system keyring. "
          f"Run `kept check` to try it.")
    return 0


def _check_digest_route(settings: Settings) -> list[int]:
    """Try the way the digest goes out, sending nothing; print the outcome; return the exit code if it failed."""
    from kept.mailboxes.smtp import check_route

    try:
        print(f"digest route: {check_route(settings)}")
        return []
    except ConfigError as exc:
        print(f"digest route: FAILED: {'; '.join(exc.problems)}")
        return [EXIT_CONFIG]
    except KeptError as exc:
        print(f"digest route: FAILED: {exc}")
        return [EXIT_LOGIN_REFUSED if isinstance(exc, AuthenticationError) else EXIT_DELIVERY]


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the config, then try each account and the model; say which step failed.

    The exit code is that of the first step that failed (`kept.errors.EXIT_CODES`):
    the configuration 2, a refused login 3, an account that cannot be read 5,
    the digest route 2 (none configured), 3 or 8, the database 4, a language model 6.
    """
    from kept.mailboxes.factory import source_for

    settings = load_settings(args.config_path)
    print(f"config {settings.path}: ok ({len(settings.accounts)} account(s))")
    failures: list[int] = []  # the exit code of each failed step, in order
    from kept.secrets import mechanism

    for account in settings.accounts:
        where = f"account {account.name} ({account.type})"
        if account.type != "maildir":
            print(f"{where}: signs in with {mechanism(account)}")
        try:
            with source_for(account) as source:
                folders = source.folders()
            listing = ", ".join(f"{f.name} [{f.role}]" for f in folders)
            print(f"{where}: ok; folders: {listing}")
        except KeptError as exc:
            failures.append(EXIT_LOGIN_REFUSED if isinstance(exc, AuthenticationError) else EXIT_SCAN_FAILED)
            print(f"{where}: FAILED: {exc}")
    failures += _check_digest_route(settings)
    try:
        store = open_store(settings)
        store.close()
        print(f"database {settings.database}: ok")
    except KeptError as exc:
        failures.append(EXIT_DATABASE)
        print(f"database {settings.database}: FAILED: {exc}")
    if not args.skip_model:
        from kept.extractors.nlp import load_pipeline

        from kept.extractors.encoder import BASE_PACKAGE
        from kept.extractors.promises import PromiseExtractor

        try:
            load_pipeline(settings.promises.model)
            print(f"language model {settings.promises.model}: ok")
        except KeptError as exc:
            failures.append(EXIT_MODEL)
            print(f"language model {settings.promises.model}: FAILED: {exc}")
        else:
            try:
                # Everything a scan loads: patterns, re-scorer, encoder (with
                # its self-check) and the combination fitted for those two.
                extractor = PromiseExtractor(settings.promises.model)
                drift = (extractor.encoder.self_check_drift if extractor.encoder else None) or 0.0
                print(f"promise encoder ({BASE_PACKAGE}): ok, self-check within {drift:.1e}")
            except KeptError as exc:
                failures.append(EXIT_MODEL)
                print(f"promise encoder ({BASE_PACKAGE}): FAILED: {exc}")
    return failures[0] if failures else 0
