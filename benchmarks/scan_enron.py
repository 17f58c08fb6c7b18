"""Scan the three Enron dev mailboxes with `kept scan`'s code path and print messages/s.

Each mailbox is scanned twice from an empty database: as a local Maildir,
and through a real Dovecot IMAP server (started here, as in the tests) into
which the same messages were appended. Model loading is timed separately
and not counted in messages/s. Usage::

    .venv/bin/python benchmarks/scan_enron.py [--enron DIR] [--no-imap] [--mailbox allen-p]

Needs ../shared/enron-dev (unpacked to a temporary folder when --enron is
not given) and, for the IMAP half, Dovecot (`.ci/install-dovecot.sh`).
"""

from __future__ import annotations

import argparse
import collections
import email
import email.policy
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kept.daemon.scan import Scanner  # noqa: E402
from kept.extractors.promises import PromiseExtractor  # noqa: E402
from kept.settings import MaildirAccount, Settings  # noqa: E402
from kept.storage.tinydb_store import TinyDBStore  # noqa: E402

MAILBOXES = ("allen-p", "beck-s", "nemec-g")
ARCHIVE = ROOT.parent / "shared" / "enron-dev" / "enron-dev.tar.gz"


def unpack(target: Path) -> Path:
    """Unpack the Enron archive into `target` (once) and return it."""
    if not (target / MAILBOXES[0]).exists():
        if not ARCHIVE.exists():
            sys.exit(f"no Enron data: {ARCHIVE} is missing; pass --enron DIR")
        with tarfile.open(ARCHIVE) as tar:
            tar.extractall(target, filter="data")
    return target


def files_of(folder: Path) -> list[Path]:
    return sorted(p for sub in ("cur", "new") for p in (folder / sub).glob("*") if p.is_file())


def owner_address(maildir: Path) -> str:
    """The most common From address of the sent folder: the mailbox owner."""
    counts: collections.Counter[str] = collections.Counter()
    for path in files_of(maildir / ".Sent")[:300]:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        counts[str(msg.get("From", "")).strip().lower()] += 1
    return counts.most_common(1)[0][0]


def run_scan(settings: Settings, extractor: PromiseExtractor, source_factory=None) -> tuple[float, list]:
    store = TinyDBStore(settings.database)
    kwargs = {"source_factory": source_factory} if source_factory else {}
    scanner = Scanner(settings, store, extractor_factory=lambda: extractor, **kwargs)
    started = time.perf_counter()
    results = scanner.scan_all()
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enron", type=Path, help="folder holding allen-p/, beck-s/, nemec-g/")
    parser.add_argument("--no-imap", action="store_true", help="skip the Dovecot half")
    parser.add_argument("--mailbox", action="append", choices=MAILBOXES)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="kept-bench-"))
    enron = args.enron or unpack(work / "enron")

    started = time.perf_counter()
    extractor = PromiseExtractor()
    extractor.extract("I will send it tomorrow.", None)  # force the model load
    print(f"model load: {time.perf_counter() - started:.2f} s")

    server = None
    if not args.no_imap:
        from tests.dovecot import DovecotServer

        server = DovecotServer.start()
    rows = []
    try:
        for name in args.mailbox or MAILBOXES:
            maildir = enron / name / "Maildir"
            me = owner_address(maildir)
            inbox, sent = files_of(maildir), files_of(maildir / ".Sent")
            total = len(inbox) + len(sent)
            settings = Settings(
                path=work / "config.toml", addresses=(me,), database=work / f"{name}-maildir.json",
                timezone="America/Chicago",
                accounts=(MaildirAccount(name=name, path=maildir, inbox="", sent=".Sent"),),
            )
            elapsed, results = run_scan(settings, extractor)
            r = results[0]
            assert r.error is None, r.error
            rows.append((name, "maildir", total, r.messages, r.promises, r.kept, r.problems, elapsed,
                         settings.database.stat().st_size))
            if server is not None:
                user = server.new_user()
                server.create_folder(user, "Sent")
                server.append_many(user, "INBOX", (p.read_bytes() for p in inbox))
                server.append_many(user, "Sent", (p.read_bytes() for p in sent))
                os.environ["KEPT_TEST_PASSWORD"] = user.password
                account = server.account(user, name=name)
                settings = Settings(
                    path=work / "config.toml", addresses=(me,), database=work / f"{name}-imap.json",
                    timezone="America/Chicago", accounts=(account,),
                )
                elapsed, results = run_scan(settings, extractor)
                r = results[0]
                assert r.error is None, r.error
                rows.append((name, "imap", total, r.messages, r.promises, r.kept, r.problems, elapsed,
                             settings.database.stat().st_size))
    finally:
        if server is not None:
            server.stop()
    print(f"{'mailbox':<9} {'source':<8} {'files':>6} {'stored':>6} {'promises':>8} {'kept':>5} "
          f"{'partial':>7} {'seconds':>8} {'msg/s':>7} {'db KB':>7}")
    for name, kind, total, stored, promises, kept, problems, elapsed, size in rows:
        print(f"{name:<9} {kind:<8} {total:>6} {stored:>6} {promises:>8} {kept:>5} {problems:>7} "
              f"{elapsed:>8.1f} {total / elapsed:>7.0f} {size // 1024:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
