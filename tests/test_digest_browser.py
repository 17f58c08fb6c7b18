"""The digest built from hostile mail, opened in a real browser: no script runs, nothing remote loads.

Subjects, display names, promise sentences, notes and account errors carry
``<script>``, event handlers, ``javascript:`` links, ``<meta refresh>``,
``<iframe>``, stylesheet and CSS ``url()`` tricks. The HTML part of the
rendered digest is loaded in headless Chromium (installed by ``make test``
through .ci/install-test-deps.sh) with every host name mapped to nowhere and
a network log on. The test reads the DOM Chromium dumps after running the
page: every payload would set ``document.title`` to PWNED, and the title must
still be the digest's own; the net log must show no request for anything but
the page itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup

from kept.digest.build import build_digest
from kept.digest.render import render_digest
from kept.models import Address, Thread
from kept.storage.memory import MemoryStore
from test_digest_build import NOW, TODAY, make_settings, message, promise, received, utc

INSTALL_HINT = "Chromium is not installed; run `make test` or `sudo .ci/install-test-deps.sh` first"

PWN = "document.title='PWNED'"
PAYLOADS = [
    f"<script>{PWN}</script>",
    f'"><img src=x onerror="{PWN}">',
    f"<svg onload=\"{PWN}\"></svg>",
    f"<a href=\"javascript:{PWN}\">click</a> javascript:{PWN}",
    "<meta http-equiv=refresh content=\"0;url=http://evil.example/refresh\">",
    "<iframe src=\"http://evil.example/frame\"></iframe>",
    "<link rel=stylesheet href=\"http://evil.example/style.css\">",
    "</style><style>body{background:url(http://evil.example/bg.png)}</style>",
    "<div style=\"background-image:url('http://evil.example/inline.png')\">x</div>",
    "@import url(http://evil.example/import.css);",
    f"<body onload=\"{PWN}\"><base href=\"http://evil.example/\">",
    f"<object data=\"javascript:{PWN}\"></object><embed src=\"http://evil.example/e.swf\">",
    f"\u202e<script>{PWN}</script>\u202c",
]
HOSTILE = " ".join(PAYLOADS)
BROWSER_SERVICE_DOMAINS = (".google.com", ".googleapis.com", ".gvt1.com", ".gstatic.com")


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(INSTALL_HINT, pytrace=False)


def hostile_digest_html() -> tuple[str, str]:
    """The HTML part and Subject of a digest made from hostile mail."""
    store = MemoryStore()
    evil = Address(f"Mallory {HOSTILE}", "mallory@example.org")
    me = Address("Sam", "me@example.com")
    store.put_promise(promise("p1", made=utc(10), due=TODAY, sentence=f"I'll send {HOSTILE} tomorrow.",
                              to=("mallory@example.org",)))
    store.put_message(message("<p1@example.com>", me, (evil,), utc(10), f"Re: {HOSTILE}", role="sent"))
    store.put_thread(Thread("t1", "home", HOSTILE, (received("<m1@x>", "mallory@example.org", utc(15)),)))
    store.put_message(message("<m1@x>", evil, (me,), utc(15), f"Hello {HOSTILE}"))
    store.set_meta("health:work", {"ok": False, "failing_since": "2026-11-20T05:00:00+00:00", "error": HOSTILE})
    settings = make_settings()
    digest = build_digest(store, NOW, settings, (f"note {HOSTILE}",))
    rendered = render_digest(digest, settings)
    html = rendered.get_body(("html",))
    assert html is not None
    return html.get_content(), str(rendered["Subject"])


def load_in_chromium(html: str, directory: Path) -> tuple[BeautifulSoup, set[str]]:
    """Open `html` in headless Chromium; return the DOM after scripts ran and the URLs the page requested."""
    directory.mkdir()
    page = directory / "page.html"
    page.write_text(html, encoding="utf-8")
    net_log = directory / "net-log.json"
    result = subprocess.run(
        [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
            f"--user-data-dir={directory / 'profile'}", "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--log-net-log={net_log}", "--net-log-capture-mode=Default",
            "--virtual-time-budget=3000", "--dump-dom", page.as_uri(),
        ],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # Chromium itself asks its vendor's services for the time, updates and
    # accounts whatever the flags (the resolver rule makes those fail).
    from_page = {url for url in requested_urls(net_log)
                 if not (urlsplit(url).hostname or "").endswith(BROWSER_SERVICE_DOMAINS)}
    return BeautifulSoup(result.stdout, "html.parser"), from_page


def test_the_payloads_do_run_when_not_escaped(tmp_path: Path) -> None:
    """The control: the same payloads in raw HTML run and request, so the checks below can fail."""
    # Not the redirecting payloads: they would replace the page before it can be read.
    payloads = f"{PAYLOADS[0]}<img src=\"http://evil.example/control.png\">"
    dom, requested = load_in_chromium(f"<html><head><title>control</title></head><body>{payloads}</body></html>",
                                      tmp_path / "control")
    assert dom.title is not None and dom.title.get_text() == "PWNED"
    assert any("evil.example" in url for url in requested), requested


def test_hostile_digest_runs_no_script_and_loads_nothing_in_chromium(tmp_path: Path) -> None:
    html, _subject = hostile_digest_html()
    # Every payload made it into the digest (escaped), or this proves nothing.
    assert html.count("PWNED") >= 8 and "evil.example" in html
    title = BeautifulSoup(html, "html.parser").title
    assert title is not None and "PWNED" not in title.get_text()
    dom, requested = load_in_chromium(html, tmp_path / "digest")
    assert dom.title is not None and dom.title.get_text() == title.get_text()
    # The payloads are text, not elements.
    for tag in ("script", "img", "svg", "iframe", "object", "embed", "base", "link"):
        assert dom.find(tag) is None, f"a <{tag}> element made it into the page"
    assert all(not a.get("href", "").lower().lstrip().startswith("javascript:") for a in dom.find_all("a"))
    assert all("url(" not in (tag.get("style") or "") for tag in dom.find_all(style=True))
    assert not requested, f"the digest requested {requested}"


def requested_urls(net_log: Path) -> set[str]:
    """Every URL Chromium's net log shows a request for."""
    text = net_log.read_text(encoding="utf-8", errors="replace").rstrip().rstrip(",")
    # Chromium may be stopped before it closes the JSON; close it ourselves.
    if not text.endswith("}"):
        text = text.rsplit("}", 1)[0] + "}"
    if not text.endswith("]}"):
        text += "]}"
    try:
        events = json.loads(text).get("events", [])
    except ValueError:
        events = [json.loads(line.rstrip(",")) for line in text.splitlines() if line.startswith('{"params"')]
    urls = set()
    for event in events:
        url = (event.get("params") or {}).get("url")
        if isinstance(url, str) and "://" in url and not url.startswith(("data:", "chrome:", "about:")):
            urls.add(url)
    return urls
