"""Screenshot the sample mailbox's digest for the README (light and dark mode).

Scans examples/sample-maildir with examples/demo-config.toml into a
throw-away database at the demo's fixed clock, builds and renders the
digest, and photographs the HTML with headless Chromium (Debian package
``chromium``) at phone width::

    .venv/bin/python benchmarks/digest_screenshot.py [--out docs] [--keep-html FILE]

Writes docs/digest.png and docs/digest-dark.png. Nothing is sent and the
network is not used: the HTML has no remote content and Chromium runs
with its background networking off.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO / "examples" / "demo-config.toml"
DEMO_NOW = "2026-11-20T07:30:00+01:00"
WINDOW = "480,1400"

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    f"--window-size={WINDOW}",
)


def demo_config(workdir: Path) -> Path:
    """A copy of the demo config whose database lives in `workdir` and whose paths are absolute."""
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    database = workdir / "kept.json"
    text, replaced = re.subn(r'(?m)^database\s*=.*$', f'database = "{database}"', text)
    if not replaced:
        text = text.replace("[kept]\n", f'[kept]\ndatabase = "{database}"\n', 1)

    def absolute(match: re.Match[str]) -> str:
        return f'path = "{(DEMO_CONFIG.parent / match.group(1)).resolve()}"'

    text = re.sub(r'(?m)^path\s*=\s*"([^"]+)"', absolute, text)
    config = workdir / "config.toml"
    config.write_text(text, encoding="utf-8")
    return config


def scan(config: Path) -> None:
    """Run `kept scan` as a user would."""
    kept = Path(sys.executable).with_name("kept")
    command = [str(kept)] if kept.exists() else [sys.executable, "-c", "from kept.cli import main; main()"]
    started = time.monotonic()
    subprocess.run([*command, "--config", str(config), "--now", DEMO_NOW, "scan"], check=True,
                   stdout=subprocess.DEVNULL)
    print(f"scanned the sample mailbox in {time.monotonic() - started:.1f} s")


def render(config: Path, html_path: Path) -> str:
    """Build and render the digest into `html_path`; return its subject."""
    from kept.config import load_settings
    from kept.digest.build import build_digest
    from kept.digest.render import render_html
    from kept.storage.tinydb_store import TinyDBStore

    settings = load_settings(config)
    store = TinyDBStore(settings.database)
    try:
        started = time.monotonic()
        digest = build_digest(store, datetime.fromisoformat(DEMO_NOW), settings)
        html = render_html(digest)
        print(f"built and rendered the digest in {(time.monotonic() - started) * 1000:.0f} ms: "
              f"{digest.item_count} items, {len(html)} bytes of HTML")
    finally:
        store.close()
    html_path.write_text(html, encoding="utf-8")
    return digest.subject


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("Chromium is not installed: sudo apt-get install -y chromium")


def screenshot(html_path: Path, png: Path, workdir: Path, dark: bool) -> None:
    """Photograph `html_path` into `png`; `dark` asks the page for prefers-color-scheme: dark."""
    profile = Path(tempfile.mkdtemp(prefix="profile-", dir=workdir))
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}"]
    if dark:
        flags += ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"]
    else:
        flags += ["--blink-settings=preferredColorScheme=1"]
    subprocess.run([chromium_binary(), *flags, html_path.as_uri()], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    if not png.exists():
        raise SystemExit(f"Chromium wrote no screenshot to {png}")
    print(f"wrote {png.relative_to(REPO) if png.is_relative_to(REPO) else png}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="folder for the PNGs")
    parser.add_argument("--keep-html", type=Path, help="also save the rendered HTML here")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kept-screenshot-") as tmp:
        workdir = Path(tmp)
        config = demo_config(workdir)
        scan(config)
        html_path = workdir / "digest.html"
        subject = render(config, html_path)
        print(f"subject: {subject}")
        if args.keep_html:
            shutil.copyfile(html_path, args.keep_html)
        screenshot(html_path, args.out / "digest.png", workdir, dark=False)
        screenshot(html_path, args.out / "digest-dark.png", workdir, dark=True)


if __name__ == "__main__":
    main()
