"""README.md is the user's page and stays short; it and docs/*.md link only
to what exists; what they tell the user to type agrees with what kept does."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

from kept.config import load_settings
from kept.mailboxes.smtp import smtp_password
from kept.presets import microsoft_tenant, render_config

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
MAX_README_BYTES = 16_000

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
EXPLICIT_ANCHOR = re.compile(r'<a id="([^"]+)">')


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    # Headings inside fenced code blocks are not headings.
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    found = {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, flags=re.M)}
    return found | set(EXPLICIT_ANCHOR.findall(text))


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def test_the_readme_stays_short():
    assert README.stat().st_size <= MAX_README_BYTES, (
        f"README.md is {README.stat().st_size} bytes; move how-it-works, evaluations "
        "and evidence to docs/*.md and link them"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_points_at_something_that_exists(page):
    broken = []
    for target in relative_links(page):
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {file.relative_to(ROOT) if file.is_relative_to(ROOT) else file}")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(f"{target}: no heading #{fragment} in {file.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_the_link_check_finds_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](missing.md) [anchor](page.md#nowhere)\n", encoding="utf-8")
    assert relative_links(page) == ["#title", "missing.md", "page.md#nowhere"]
    assert "title" in anchors(page) and "nowhere" not in anchors(page)


#: A file of the repository named in prose: ``daemon/threader.py``, ``tests/data/x.jsonl``.
REPO_PATH = re.compile(
    r"(?<![\w/.~-])((?:daemon|extractors|storage|mailboxes|digest|kept|benchmarks|training|tests|scripts|docs|systemd)"
    r"/[\w./-]*\w\.(?:py|md|toml|sh|json|jsonl|service))\b"
)


def repo_paths(text: str) -> list[str]:
    return REPO_PATH.findall(text)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_file_named_exists(page):
    # Code moves (extractors/threads.py became daemon/threader.py); the pages follow it.
    missing = [path for path in repo_paths(page.read_text(encoding="utf-8")) if not (ROOT / path).exists()]
    assert not missing, f"{page.name} names files that do not exist: {missing}"


def test_the_path_check_finds_a_file_named_in_prose():
    text = "see `extractors/threads.py`, daemon/threader.py and tests/data/final-check.jsonl; ~/.config/kept/config.toml"
    assert repo_paths(text) == ["extractors/threads.py", "daemon/threader.py", "tests/data/final-check.jsonl"]


def test_the_readme_sample_config_is_valid(tmp_path):
    text = README.read_text(encoding="utf-8")
    [sample] = re.findall(r"A small config reads.*?```toml\n(.*?)```", text, flags=re.S)
    path = tmp_path / "config.toml"
    path.write_text(sample, encoding="utf-8")
    path.chmod(0o600)
    settings = load_settings(path)
    assert [a.name for a in settings.accounts] == ["work"] and settings.digest.smtp is not None


class DictKeyring(KeyringBackend):
    """A keyring held in memory, for the keyring library's real lookup path."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username), None)


def test_the_gmail_walk_through_stores_the_password_kept_looks_up_for_the_digest(tmp_path):
    walk_through = (ROOT / "docs/providers.md").read_text(encoding="utf-8")
    gmail = walk_through[walk_through.index("## Gmail"):walk_through.index("## Microsoft 365")]
    stored = re.findall(r"keyring set (\S+) (\S+)$", gmail, flags=re.M)
    path = tmp_path / "config.toml"
    path.write_text(render_config("gmail", "sam@gmail.com"), encoding="utf-8")
    path.chmod(0o600)
    settings = load_settings(path)
    previous = keyring.get_keyring()
    backend = DictKeyring()
    keyring.set_keyring(backend)
    try:
        for service, user in stored:
            keyring.set_password(service, user, f"secret of {user}")
        assert smtp_password(settings.digest.smtp) == "secret of digest.smtp"
    finally:
        keyring.set_keyring(previous)
    assert ("kept", "gmail") in stored
    assert "keyring set kept digest.smtp" in README.read_text(encoding="utf-8")


def test_the_microsoft_walk_through_and_kept_init_agree_on_the_tenant():
    walk_through = (ROOT / "docs/providers.md").read_text(encoding="utf-8")
    section = walk_through[walk_through.index("## Microsoft 365"):walk_through.index("## Exchange")]
    example = tomllib.loads(re.findall(r"```toml\n(.*?)```", section, flags=re.S)[0])["accounts"]["outlook"]
    written = tomllib.loads(render_config("outlook", example["username"]))["accounts"]["outlook"]
    assert example["oauth2_tenant"] == written["oauth2_tenant"] == "organizations"
    # Personal Microsoft accounts sign in at "consumers", in every country's spelling.
    for address in ("sam@outlook.com", "sam@hotmail.co.uk", "sam@live.fr", "sam@outlook.com.br", "sam@msn.com"):
        assert microsoft_tenant(address) == "consumers", address
    for address in ("sam@contoso.com", "sam@outlook.contoso.com", "sam@livenation.com"):
        assert microsoft_tenant(address) == "organizations", address
