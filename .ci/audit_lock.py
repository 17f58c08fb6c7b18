#!/usr/bin/env python3
"""Audit the pins in requirements.lock for known vulnerabilities (stdlib and `packaging`).

Usage::

    python3 .ci/audit_lock.py [requirements.lock] [--ignore-file .ci/audit-ignore.txt]
                              [--base-url https://pypi.org/pypi] [--timeout 10] [--jobs 16]
                              [--warn-if-not-run]

``make audit`` runs it strictly; ``make test`` (CI) runs it with
``--warn-if-not-run`` right after lint.

Why not pip-audit. pip-audit (still installed with the ``test`` extra; ``make
pip-audit`` runs it on each lock, after ``--pip-audit-preflight`` has checked
that it can) asks PyPI's per-release endpoint
``https://pypi.org/pypi/NAME/VERSION/json``, whose ``vulnerabilities`` list
holds the advisories linked to exactly that release. The registry the
development machine and CI reach is a PyPI mirror that answers the project
endpoint ``/pypi/NAME/json`` (with the ``vulnerabilities`` of the LATEST
release) but 404s on the per-release one, so pip-audit skips every package
("Dependency not found on PyPI and could not be audited") and ``--strict``
makes it fail; its URL is hard-coded. Its other services, OSV
(api.osv.dev) and ecosyste.ms, are not reachable from here.

What this script does, per ``name==version`` pin:

1. ask ``BASE/NAME/VERSION/json``; a 200 whose ``info.version`` is the pin is
   PyPI's own answer for that release: audited, every advisory listed that is
   not withdrawn counts (as pip-audit does);
2. on a 404 (or a per-release answer about another version), ask
   ``BASE/NAME/json``. If the pin IS the latest release (``info.version``),
   its ``vulnerabilities`` describe the pin: audited. As a guard against a
   mirror attaching advisories that are not release-specific, an entry whose
   ``fixed_in`` versions are all at or below the pin is reported as not
   applying (it was fixed at or before the pin). If the pin is not the latest
   release, the registry holds no data about it: NOT AUDITED, printed and
   counted, not a failure (the pin may well be fine, and nothing here can
   tell; on real PyPI step 1 answers it);
3. a 404 on the project endpoint too: the registry does not know the
   package; NOT AUDITED, likewise.

Exit status and why:

* 1 - a pin has a known vulnerability that is not in the ignore file. This
  is what the audit is for and always fails, in ``make audit`` and in CI.
* 2 - the lock or the ignore file cannot be read (a pin that is not ``==``,
  an ignore entry without a reason).
* 3 - ``AUDIT NOT RUN`` (no package could be audited at all: registry
  unreachable, or answering no usable data) or ``AUDIT INCOMPLETE`` (some
  packages could not be queried after one retry: timeout, 5xx, bad JSON).
  A silent pass on missing data would be a lie, so the banner is loud and
  ``make audit`` fails. But a flaky network says nothing about the change
  under test, so CI passes ``--warn-if-not-run``: the banner is still printed
  and the exit status becomes 0. Vulnerabilities found in what did answer
  still fail (1 takes precedence over 3).
* 0 - every audited pin is clean (pins that could not be audited are listed).

The ignore file (default ``.ci/audit-ignore.txt``) holds one advisory per
line, ``ID reason...``; the ID may be the advisory id or any of its aliases
(CVE, GHSA, PYSEC). A line without a reason is refused: every accepted risk
must say why. Entries matching no advisory are reported as stale.

Limits: the mirror's data is only as fresh as the mirror; advisories come
from PyPI's feed (OSV-sourced PYSEC/GHSA), so anything not linked to a
release there is not seen.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import re
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# packaging is what pip itself uses to read versions; it is in the lock, and
# make runs this script with the project's venv.
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

DEFAULT_BASE_URL = "https://pypi.org/pypi"
ROOT = Path(__file__).resolve().parent.parent
USER_AGENT = "kept-audit-lock/1 (+stdlib urllib)"

EXIT_OK = 0
EXIT_VULNERABLE = 1
EXIT_USAGE = 2
EXIT_NOT_RUN = 3


class AuditError(Exception):
    """The lock or the ignore file cannot be used as they are."""


class RegistryError(Exception):
    """The registry did not give a usable answer (network, 5xx, bad JSON)."""


class NotFound(Exception):
    """The registry answered 404."""


# ---------------------------------------------------------------- versions

def version_key(text: str) -> Version:
    """The PEP 440 version `text`, which orders as pip orders; ValueError if it is not one."""
    return Version(text)


def same_version(a: str, b: str) -> bool:
    """True when `a` and `b` are the same PEP 440 version (1.0 == 1.0.0); plain text equality otherwise."""
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a.strip() == b.strip()


def canonical_name(name: str) -> str:
    """The PEP 503 normalized project name (``Jinja2`` -> ``jinja2``, ``tomli_w`` -> ``tomli-w``)."""
    return str(canonicalize_name(name))


# ---------------------------------------------------------------- inputs

_PIN_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*===?\s*(?P<version>[^\s;,]+)\s*(?:;.*)?$"
)


@dataclass(frozen=True)
class Pin:
    """One ``name==version`` line of the lock."""

    name: str
    version: str


def parse_lock(text: str) -> list[Pin]:
    """Every pin in a pip requirements file with hashes; AuditError on a line that is not an exact pin."""
    pins: list[Pin] = []
    problems: list[str] = []
    logical: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        logical.append((start, buffer.strip()))
        buffer = ""
    if buffer.strip():
        logical.append((start, buffer.strip()))
    for number, line in logical:
        if not line or line.startswith("-"):
            continue  # blank, or an option line (--index-url, -c, ...)
        requirement = line.split(" --", 1)[0].strip()
        m = _PIN_RE.match(requirement)
        if m is None:
            problems.append(f"line {number}: not an exact name==version pin: {requirement}")
            continue
        pins.append(Pin(canonical_name(m.group("name")), m.group("version")))
    if problems:
        raise AuditError("; ".join(problems))
    return pins


def parse_ignore(text: str) -> dict[str, str]:
    """Advisory id -> reason from the ignore file; AuditError on an entry without a reason."""
    ignored: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) < 2 or not parts[1].strip():
            raise AuditError(f"ignore file line {number}: {parts[0]!r} has no reason; write 'ID why it is accepted'")
        ignored[parts[0].upper()] = parts[1].strip()
    return ignored


# ---------------------------------------------------------------- registry


def fetch_json(url: str, timeout: float, retries: int = 1, backoff: float = 0.5) -> Any:
    """GET `url` as JSON. NotFound on 404; RegistryError after `retries` retries of anything else."""
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * attempt)
        request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise NotFound(url) from None
            last = f"HTTP {exc.code}"
            continue
        except (urllib.error.URLError, OSError) as exc:  # refused, DNS, timeout, reset
            last = str(getattr(exc, "reason", exc)) or type(exc).__name__
            continue
        try:
            return json.loads(body)
        except ValueError:
            last = "answer is not JSON"
            continue
    raise RegistryError(f"{url}: {last}")


@dataclass(frozen=True)
class Advisory:
    """One entry of PyPI's ``vulnerabilities`` list."""

    id: str
    aliases: tuple[str, ...]
    fixed_in: tuple[str, ...]

    def label(self) -> str:
        """``ID [ALIASES] (fixed in X, Y)`` or ``ID [ALIASES] (no fix)``."""
        aliases = f" [{', '.join(self.aliases)}]" if self.aliases else ""
        fixed = f"fixed in {', '.join(self.fixed_in)}" if self.fixed_in else "no fix"
        return f"{self.id}{aliases} ({fixed})"


@dataclass(frozen=True)
class Result:
    """What the registry says about one pin."""

    pin: Pin
    latest: str = "?"
    audited: bool = False
    source: str = ""  # "release" (per-version endpoint) or "latest" (project endpoint, pin is latest)
    reason: str = ""  # why not audited
    error: str = ""  # the registry failed
    vulnerabilities: tuple[Advisory, ...] = ()
    not_applying: tuple[Advisory, ...] = ()  # fixed at or before the pin
    ignored: tuple[tuple[Advisory, str], ...] = field(default=())


def _advisories(data: Any) -> list[Advisory]:
    entries = data.get("vulnerabilities") if isinstance(data, dict) else None
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise RegistryError("'vulnerabilities' is not a list")
    advisories: list[Advisory] = []
    for entry in entries:
        if not isinstance(entry, dict) or "id" not in entry:
            raise RegistryError(f"malformed vulnerability entry: {entry!r:.200}")
        if entry.get("withdrawn"):
            continue
        advisory = Advisory(
            id=str(entry["id"]),
            aliases=tuple(str(a) for a in entry.get("aliases") or ()),
            fixed_in=tuple(str(v) for v in entry.get("fixed_in") or ()),
        )
        # PyPI lists one flaw once per database (PYSEC-..., GHSA-... naming
        # each other as aliases): count it once, under the first id seen.
        for i, seen in enumerate(advisories):
            if {seen.id, *seen.aliases} & {advisory.id, *advisory.aliases}:
                aliases = tuple(dict.fromkeys(a for a in (*seen.aliases, advisory.id, *advisory.aliases) if a != seen.id))
                fixed_in = tuple(dict.fromkeys((*seen.fixed_in, *advisory.fixed_in)))
                advisories[i] = Advisory(seen.id, aliases, fixed_in)
                break
        else:
            advisories.append(advisory)
    return advisories


def _fixed_at_or_before(advisory: Advisory, version: str) -> bool:
    """True when every fix of `advisory` is at or below `version`. No fix, or an unreadable one: False."""
    if not advisory.fixed_in:
        return False
    try:
        pinned = version_key(version)
        return all(version_key(v) <= pinned for v in advisory.fixed_in)
    except ValueError:
        return False  # cannot compare: keep the advisory


def _info_version(data: Any) -> str:
    try:
        return str(data["info"]["version"])
    except (KeyError, TypeError):
        raise RegistryError("answer has no info.version") from None


def _latest_or_unknown(base: str, pin: Pin, timeout: float) -> str:
    """The latest release for the table only: its failure does not spoil an audited answer."""
    try:
        return _info_version(fetch_json(f"{base}/{pin.name}/json", timeout, retries=0))
    except (NotFound, RegistryError):
        return "?"


def audit_pin(pin: Pin, base_url: str, timeout: float, backoff: float = 0.5) -> Result:
    """Ask the registry about one pin (see the module docstring for the rules)."""
    base = base_url.rstrip("/")
    try:
        try:
            data = fetch_json(f"{base}/{pin.name}/{pin.version}/json", timeout, backoff=backoff)
            if same_version(_info_version(data), pin.version):
                return Result(pin, latest=_latest_or_unknown(base, pin, timeout), audited=True, source="release",
                              vulnerabilities=tuple(_advisories(data)))
            # An answer about another release (a mirror ignoring the path) says nothing about the pin.
        except NotFound:
            pass
        try:
            data = fetch_json(f"{base}/{pin.name}/json", timeout, backoff=backoff)
        except NotFound:
            return Result(pin, reason="not on the registry")
        latest = _info_version(data)
        if not same_version(latest, pin.version):
            try:
                relation = "below" if version_key(pin.version) < version_key(latest) else "above"
            except ValueError:
                relation = "not"
            return Result(pin, latest=latest, reason=f"pin is {relation} the latest release; no per-version data")
        applying: list[Advisory] = []
        fixed: list[Advisory] = []
        for advisory in _advisories(data):
            (fixed if _fixed_at_or_before(advisory, pin.version) else applying).append(advisory)
        return Result(pin, latest=latest, audited=True, source="latest",
                      vulnerabilities=tuple(applying), not_applying=tuple(fixed))
    except RegistryError as exc:
        return Result(pin, error=str(exc))


def apply_ignores(result: Result, ignored: dict[str, str]) -> Result:
    """Move the advisories named (by id or alias) in the ignore file from vulnerabilities to ignored."""
    keep: list[Advisory] = []
    dropped: list[tuple[Advisory, str]] = []
    for advisory in result.vulnerabilities:
        names = [advisory.id, *advisory.aliases]
        reason = next((ignored[n.upper()] for n in names if n.upper() in ignored), None)
        if reason is None:
            keep.append(advisory)
        else:
            dropped.append((advisory, reason))
    return Result(result.pin, result.latest, result.audited, result.source, result.reason, result.error,
                  tuple(keep), result.not_applying, tuple(dropped))


def audit(pins: list[Pin], base_url: str, timeout: float, jobs: int, backoff: float = 0.5) -> list[Result]:
    """Audit every pin, `jobs` requests at a time; results in the lock's order.

    The first pin is asked alone: when the registry cannot be reached, the
    rest are not tried, so a dead network costs one timeout and one retry,
    not one per package.
    """
    if not pins:
        return []
    first = audit_pin(pins[0], base_url, timeout, backoff)
    if first.error:
        return [first] + [Result(p, error="not queried: the registry did not answer the first request") for p in pins[1:]]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return [first] + list(pool.map(lambda p: audit_pin(p, base_url, timeout, backoff), pins[1:]))


# ---------------------------------------------------------------- report


def render(results: list[Result], ignored: dict[str, str], warn_if_not_run: bool, base_url: str) -> tuple[str, int]:
    """The table and summary to print, and the exit status."""
    rows = [("package", "pinned", "latest", "audited", "vulnerabilities")]
    for r in results:
        if r.error:
            column, vulns = "ERROR", r.error
        elif not r.audited:
            column, vulns = "no", r.reason
        else:
            column = "yes" if r.source == "release" else "yes (latest)"
            parts = [a.label() for a in r.vulnerabilities]
            parts += [f"{a.label()} IGNORED: {why}" for a, why in r.ignored]
            parts += [f"{a.label()} fixed at or before the pin, not counted" for a in r.not_applying]
            vulns = "; ".join(parts) or "none"
        rows.append((r.pin.name, r.pin.version, r.latest, column, vulns))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(row[i].ljust(widths[i]) for i in range(4)) + "  " + row[4] for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len("vulnerabilities"))

    audited = [r for r in results if r.audited]
    vulnerable = [r for r in audited if r.vulnerabilities]
    unaudited = [r for r in results if not r.audited and not r.error]
    errors = [r for r in results if r.error]
    by_release = sum(1 for r in audited if r.source == "release")
    lines.append("")
    lines.append(
        f"{len(results)} pins: {len(audited)} audited ({by_release} by release, {len(audited) - by_release} "
        f"as the latest release), {len(unaudited)} not audited, {len(errors)} registry errors; "
        f"{len(vulnerable)} vulnerable"
    )
    if unaudited:
        lines.append(f"NOT AUDITED ({len(unaudited)}; {base_url} has no vulnerability data for these pins):")
        lines.extend(f"  {r.pin.name}=={r.pin.version} (latest {r.latest}): {r.reason}" for r in unaudited)
    used = {n.upper() for r in results for a, _ in r.ignored for n in (a.id, *a.aliases)}
    stale = sorted(set(ignored) - used)
    if stale:
        lines.append("ignore file entries matching no advisory (remove them?): " + ", ".join(stale))

    status = EXIT_OK
    if errors or not audited:
        what = "AUDIT NOT RUN" if not audited else "AUDIT INCOMPLETE"
        why = f"{len(errors)} of {len(results)} packages could not be queried" if errors else "no pin could be audited"
        banner = "!" * 72
        lines += [banner, f"!!! {what}: {why} ({base_url}).",
                  "!!! Missing data is not a pass." + (" Warning only (--warn-if-not-run)." if warn_if_not_run else ""),
                  banner]
        if not warn_if_not_run:
            status = EXIT_NOT_RUN
    if vulnerable:
        lines.append(f"VULNERABLE: {len(vulnerable)} pinned packages have known vulnerabilities:")
        for r in vulnerable:
            lines.append(f"  {r.pin.name}=={r.pin.version}: " + "; ".join(a.label() for a in r.vulnerabilities))
        lines.append("Bump the pin in pyproject.toml and run `make lock`, or accept the risk with a reason in the ignore file.")
        status = EXIT_VULNERABLE
    elif audited and status == EXIT_OK:
        lines.append(f"OK: no known vulnerabilities in the {len(audited)} audited pins.")
    return "\n".join(lines), status


def pip_audit_preflight(pins: list[Pin], base_url: str, timeout: float, backoff: float = 0.5) -> tuple[str, int]:
    """Whether pip-audit can run against `base_url`: a line to print and an exit status (0, or 3).

    pip-audit (``make pip-audit``) asks the per-release endpoint of every
    pin and cannot be pointed elsewhere; where that endpoint answers 404 (the
    mirror here) it says "Dependency not found on PyPI" about the first
    package and exits 1, as for a vulnerability. One request for the first
    pin tells the two apart before it runs.
    """
    pin = pins[0]
    base = base_url.rstrip("/")
    release = f"{base}/{pin.name}/{pin.version}/json"
    try:
        try:
            data = fetch_json(release, timeout, backoff=backoff)
            if same_version(_info_version(data), pin.version):
                return f"pip-audit: {base} answers per-release queries ({release}); running it", EXIT_OK
            why = f"{release} answers about {_info_version(data)}, not {pin.version}"
        except NotFound:
            why = f"{release} answers 404"
        try:
            fetch_json(f"{base}/{pin.name}/json", timeout, retries=0)
            why += f" while {base}/{pin.name}/json answers: this registry has no per-release data"
        except NotFound:
            why += f" and so does {base}/{pin.name}/json: this registry does not know {pin.name}"
    except RegistryError as exc:
        why = f"{base} cannot be reached ({exc})"
    return (f"PIP-AUDIT NOT RUN: {why}, and pip-audit can ask nothing else. `make audit` (.ci/audit_lock.py) "
            "audits the same locks from the project endpoint; run `make pip-audit` where pypi.org answers."), EXIT_NOT_RUN


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("lock", nargs="?", default=str(ROOT / "requirements.lock"), help="the requirements file")
    parser.add_argument("--ignore-file", default=str(ROOT / ".ci" / "audit-ignore.txt"),
                        help="accepted advisories, 'ID reason' per line (a missing file means none)")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="PyPI JSON API base (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=16, help="requests in parallel (default: %(default)s)")
    parser.add_argument("--retry-backoff", type=float, default=0.5, help=argparse.SUPPRESS)
    parser.add_argument("--pip-audit-preflight", action="store_true",
                        help="only say whether pip-audit can run against the registry (exit 0) or not (exit 3)")
    parser.add_argument("--warn-if-not-run", action="store_true",
                        help="exit 0 instead of 3 when the registry could not be queried (CI); the banner is still printed")
    args = parser.parse_args(argv)

    try:
        pins = parse_lock(Path(args.lock).read_text(encoding="utf-8"))
        ignore_path = Path(args.ignore_file)
        ignored = parse_ignore(ignore_path.read_text(encoding="utf-8")) if ignore_path.exists() else {}
    except (OSError, AuditError) as exc:
        print(f"audit_lock: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not pins:
        print(f"audit_lock: no pins in {args.lock}", file=sys.stderr)
        return EXIT_USAGE

    if args.pip_audit_preflight:
        line, status = pip_audit_preflight(pins, args.base_url, args.timeout, args.retry_backoff)
        print(line)
        return status
    started = time.monotonic()
    results = [apply_ignores(r, ignored) for r in audit(pins, args.base_url, args.timeout, args.jobs, args.retry_backoff)]
    text, status = render(results, ignored, args.warn_if_not_run, args.base_url)
    print(text)
    print(f"({time.monotonic() - started:.1f} s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
