"""Throughput of ``kept extract --jsonl`` over real sent mail, per encoder runtime, side by side.

Usage::

    .venv/bin/python benchmarks/extract_throughput.py [--enron /tmp/enron] [--rounds 2]
        [--runtime onnx-int8 --runtime onnx-fp32 --runtime numpy] [--labelled FILE ...]

Reads every message of ``<enron>/*/Maildir/.Sent/{cur,new}`` with the stdlib
email parser, takes the first text/plain part and the Date header, and
writes the JSON lines the evaluation interface reads. Each runtime of the
promise encoder (`kept.extractors.encoder.RUNTIMES`) then runs in a fresh
process, one after the other and ``--rounds`` times in turn (the best round
is printed, so a neighbour's burst on a shared machine does not decide), on
one core (ONNX Runtime and BLAS on one thread):

* **load**: `PromiseExtractor` made from the installed files (spaCy, patterns,
  re-scorer, encoder from its cached graph, self-check); target <= 1.5 s;
* **messages/s** of `run_extract_jsonl` after the load; target >= 1,000 per
  core; the share of that time spent in the encoder;
* **decisions** on the labelled sets: precision and recall per file, and the
  sentences whose decision differs from the NumPy reference's (a runtime
  may only be chosen if its decisions are equal or better);
* peak RSS of the process.

The graph each ONNX runtime reads is built (and cached, in a process of
its own) before its timed load, as a user's first ``kept check`` does.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import email.utils
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOAD_TARGET = 1.5
RATE_TARGET = 1000.0
#: The labelled sets docs/promises.md reports on, plus the two the issue names.
LABELLED = ("promises-test", "promises-val", "final-check", "heldout-cue3-sent")


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


def child(runtime: str, lines_file: Path, labelled: list[Path]) -> dict[str, Any]:
    """One runtime's figures, measured in this (fresh) process."""
    from kept.extractors.cleaning import clean_body
    from kept.extractors.promises import PromiseExtractor, run_extract_jsonl

    started, cpu_started = time.perf_counter(), time.process_time()
    extractor = PromiseExtractor(runtime=runtime)  # type: ignore[arg-type]
    load, load_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    encoder = extractor.encoder
    assert encoder is not None
    encoder_time = [0.0, 0]
    logits = encoder.logits

    def timed(sentences, **kwargs):  # type: ignore[no-untyped-def]
        began = time.process_time()
        result = logits(sentences, **kwargs)
        encoder_time[0] += time.process_time() - began
        encoder_time[1] += len(sentences)
        return result

    encoder.logits = timed  # type: ignore[method-assign]
    text = lines_file.read_text(encoding="utf-8")
    output = io.StringIO()
    started, cpu_started = time.perf_counter(), time.process_time()
    count = run_extract_jsonl(io.StringIO(text), output, clean=clean_body, extractor=extractor)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    results = [json.loads(line) for line in output.getvalue().splitlines()]
    extract_encoder = tuple(encoder_time)
    decisions: dict[str, list[bool]] = {}
    gold: dict[str, list[bool]] = {}
    for path in labelled:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        items = [(r["sentence"], datetime.fromisoformat(r["sent_at"]) if r.get("sent_at") else None) for r in rows]
        decisions[path.stem] = [bool(found) for found in extractor.extract_many(items)]
        gold[path.stem] = [bool(r["is_promise"]) for r in rows]
    return {
        "runtime": runtime, "load": load, "load_cpu": load_cpu, "messages": count, "seconds": elapsed, "cpu": cpu,
        "encoder_seconds": extract_encoder[0], "encoder_sentences": extract_encoder[1],
        "promises": sum(len(r["promises"]) for r in results),
        "errors": sum(1 for r in results if "error" in r),
        "drift": encoder.self_check_drift, "decisions": decisions, "gold": gold,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }  # fmt: skip


def _prf(decided: list[bool], gold: list[bool]) -> str:
    tp = sum(d and g for d, g in zip(decided, gold))
    fp = sum(d and not g for d, g in zip(decided, gold))
    fn = sum(g and not d for d, g in zip(decided, gold))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return f"{precision:.3f}/{recall:.3f}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enron", type=Path, default=Path("/tmp/enron"))
    parser.add_argument("--runtime", action="append", choices=("onnx-int8-blocks", "onnx-int8", "onnx-fp32", "numpy"))
    parser.add_argument("--rounds", type=int, default=1, help="runs of each runtime, in turn; the best is printed")
    parser.add_argument("--labelled", action="append", type=Path, help="labelled JSONL (default: the four sets)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--lines", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    labelled = args.labelled or [ROOT / "tests" / "data" / f"{name}.jsonl" for name in LABELLED]
    if args.child:
        print(json.dumps(child(args.child, args.lines, labelled)))
        return 0

    lines = read_sent_mail(args.enron)
    if not lines:
        print(f"no sent mail under {args.enron}", file=sys.stderr)
        return 1
    runtimes = args.runtime or ["numpy", "onnx-fp32", "onnx-int8", "onnx-int8-blocks"]
    # One core per process, as kept runs it: BLAS (the NumPy reference) on one thread too.
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    best: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="kept-extract-bench-") as work:
        lines_file = Path(work) / "sent.jsonl"
        lines_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for runtime in runtimes:
            # Build the cached graph first, in a process of its own, as a
            # user's first kept check does: the timed load reads it.
            warm = f"from kept.extractors.encoder import SentenceClassifier; SentenceClassifier(runtime={runtime!r})"
            subprocess.run([sys.executable, "-c", warm], env=env, check=True)
        for _round in range(args.rounds):
            for runtime in runtimes:
                command = [sys.executable, __file__, "--child", runtime, "--lines", str(lines_file)]
                for path in labelled:
                    command += ["--labelled", str(path)]
                done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    print(done.stderr, file=sys.stderr)
                    return 1
                result = json.loads(done.stdout.splitlines()[-1])
                rate = result["messages"] / result["cpu"]
                if runtime not in best or rate > best[runtime]["messages"] / best[runtime]["cpu"]:
                    best[runtime] = result

    reference = best.get("numpy")
    print(f"{len(lines)} sent messages under {args.enron}; best of {args.rounds} round(s), one core each")
    print("Per core = per CPU-second of the process (on a shared machine wall time also counts others' work).")
    print(f"{'runtime':<16} {'load s':>6} {'CPU s':>6} {'/1.5s':>6} {'msg/s':>6} {'msg/CPUs':>8} {'/1000':>6} "
          f"{'encoder':>7} {'enc sent/CPUs':>13} {'promises':>8} {'RSS MB':>6} {'drift':>7} {'differ':>6}  "
          "P/R per labelled set")
    for runtime in runtimes:
        r = best[runtime]
        per_core = r["messages"] / r["cpu"]
        encoder_rate = r["encoder_sentences"] / r["encoder_seconds"] if r["encoder_seconds"] else 0.0
        differ = "-"
        if reference is not None:
            differ = str(sum(
                a != b for name in r["decisions"]
                for a, b in zip(r["decisions"][name], reference["decisions"][name], strict=True)
            ))  # fmt: skip
        quality = "  ".join(f"{name} {_prf(r['decisions'][name], r['gold'][name])}" for name in r["decisions"])
        print(f"{runtime:<16} {r['load']:>6.2f} {r['load_cpu']:>6.2f} {r['load_cpu'] / LOAD_TARGET:>6.2f} "
              f"{r['messages'] / r['seconds']:>6.0f} {per_core:>8.0f} {per_core / RATE_TARGET:>6.2f} "
              f"{r['encoder_seconds'] / r['cpu']:>7.0%} {encoder_rate:>13.0f} {r['promises']:>8} "
              f"{r['peak_rss_mb']:>6.0f} {r['drift']:>7.4f} {differ:>6}  {quality}")
    print("Targets: load CPU/1.5s <= 1, msg/CPUs/1000 >= 1. 'differ': labelled sentences decided otherwise "
          "than by the NumPy reference; P/R = precision/recall.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
