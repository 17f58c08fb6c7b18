"""Coverage-guided fuzzing of the message parser and the text extractors with atheris.

Every input is parsed as a raw message (`parse_message`, size cap 200 kB),
and its fresh text goes through `clean_body`, `asks` and `needs_reply`. A
crash is any exception, or a record that breaks the parser's promises: a
multi-line subject, control or bidi characters in the subject or names, a
Message-ID without angle brackets, text that cannot be written as UTF-8.

atheris is not among kept's dependencies (it is only needed here)::

    .venv/bin/pip install atheris==3.0.0
    mkdir -p /tmp/fuzz-corpus && cp examples/sample-maildir/cur/* /tmp/fuzz-corpus/
    .venv/bin/python benchmarks/fuzz_parser.py /tmp/fuzz-corpus -max_total_time=600 -rss_limit_mb=2048

libFuzzer's own options (``-max_total_time``, ``-jobs``, ``-max_len``) pass
through; a crashing input is written to ``crash-<sha1>`` in the working folder.

libFuzzer ends the process without returning to Python, so the figures
against `TARGETS` are printed as they change: every `REPORT_EVERY` inputs,
whenever an input is the slowest yet, and on a crash.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.targets import Target, print_against_targets  # noqa: E402

TARGETS = (
    # Issue 7: fuzzing the parser and extractors finds no crash.
    Target("crashes", "=", 0, "", "issue 7: no crash"),
    # Issue 7 asks for bounded time per message; tests/test_message_fuzz.py
    # holds every generated message to 2 s.
    Target("slowest input", "≤", 2.0, "s", "issue 7, tests/test_message_fuzz.py"),
)
REPORT_EVERY = 10_000

with atheris.instrument_imports():
    from kept.extractors.asks import asks
    from kept.extractors.cleaning import clean_body
    from kept.extractors.message import parse_message
    from kept.extractors.replies import needs_reply
    from kept.models import RawMessage

_FORBIDDEN_IN_ONE_LINE = ("\r", "\n", "\x00", "\u202e", "\u2066", "\u200f")

_inputs = 0
_slowest = 0.0


def _report(crashes: int) -> None:
    print_against_targets(TARGETS, {"crashes": crashes, "slowest input": _slowest},
                          title=f"Against the targets after {_inputs:,} inputs:")
    sys.stdout.flush()


def test_one_input(data: bytes) -> None:
    """One round, timed and counted for `TARGETS`; a crash is reported, then raised to libFuzzer."""
    global _inputs, _slowest
    started = time.perf_counter()
    try:
        check_one_input(data)
    except BaseException:
        _inputs += 1
        _report(crashes=1)
        raise
    elapsed = time.perf_counter() - started
    _inputs += 1
    if elapsed > _slowest:
        _slowest = elapsed
        if _inputs > 100:  # the first inputs are all "slowest yet"
            _report(crashes=0)
    elif _inputs % REPORT_EVERY == 0:
        _report(crashes=0)


def check_one_input(data: bytes) -> None:
    """One fuzzing round: parse, extract, check the record's invariants."""
    record = parse_message(RawMessage(uid="1", data=data), account="a", role="sent", folder="Sent",
                           max_bytes=200_000)
    if not (record.message_id.startswith("<") and record.message_id.endswith(">")):
        raise AssertionError(f"bad Message-ID {record.message_id!r}")
    names = [a.name for a in (record.from_addr, *record.to, *record.cc) if a is not None]
    for text in (record.subject, *names):
        if any(character in text for character in _FORBIDDEN_IN_ONE_LINE):
            raise AssertionError(f"control character in {text!r}")
    for text in (record.subject, record.body_text, *names):
        text.encode("utf-8")
    cleaned = clean_body(record.body_text)
    asks(cleaned)
    needs_reply(cleaned)


def main() -> None:
    """Run libFuzzer with the command line's options and corpus folders."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
