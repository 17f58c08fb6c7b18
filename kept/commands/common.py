"""What every command module shares: the store, the console, JSON output.

Mail text printed to the terminal goes through here so that it is shown as
data (see `console`).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kept.errors import UserError
from kept.settings import Settings

if TYPE_CHECKING:
    # Only for annotations: rich, the scanner and TinyDB load when a command needs them.
    from rich.console import Console

    from kept.daemon.scan import ProgressCallback, Scanner
    from kept.storage.base import Store
    from kept.storage.tinydb_store import TinyDBStore


def open_store(settings: Settings) -> TinyDBStore:
    """Open the configured TinyDB database (imported lazily: keeps `kept --help` fast)."""
    from kept.storage.tinydb_store import TinyDBStore

    return TinyDBStore(settings.database)


def console() -> Console:
    from rich.console import Console

    # Piped output (a log, `| less`) gets a fixed comfortable width rather
    # than rich's 80-column fallback, which folds every table cell.
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "120"))
    return Console(highlight=False, soft_wrap=False, width=width)


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def hours(hours: float | None) -> str:
    """Human duration: '45 min', '5 h', '3 days'."""
    if hours is None:
        return "–"
    if hours < 1:
        return f"{max(1, round(hours * 60))} min"
    if hours < 48:
        return f"{round(hours)} h"
    return f"{round(hours / 24)} days"


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path`, readable by the user only (0600, also when it already exists)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}", "choose a path in a folder you can write to") from error


def make_scanner(
    settings: Settings, store: Store, now: datetime, progress: ProgressCallback | None = None
) -> Scanner:
    from kept.daemon.scan import Scanner
    from kept.extractors.promises import PromiseExtractor

    return Scanner(
        settings, store,
        extractor_factory=lambda: PromiseExtractor(settings.promises.model),
        now=lambda: now,
        progress=progress,
    )
