"""The package-dir mapping: top-level folders install as ONE package `kept`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import kept
import kept.daemon
import kept.storage

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = ("daemon", "extractors", "storage", "mailboxes", "digest")


def test_editable_install_maps_folders_into_kept():
    assert Path(kept.__file__).resolve() == ROOT / "kept" / "__init__.py"
    assert Path(kept.daemon.__file__).resolve() == ROOT / "daemon" / "__init__.py"
    assert Path(kept.storage.__file__).resolve() == ROOT / "storage" / "__init__.py"


@pytest.mark.slow
def test_normal_install_has_one_top_level_package(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    top_level = {p.name for p in target.iterdir() if not p.name.endswith((".dist-info", ".egg-info"))}
    assert "kept" in top_level
    assert not top_level & set(SUBPACKAGES), f"generic packages leaked into site-packages: {top_level}"
    for name in SUBPACKAGES:
        assert (target / "kept" / name / "__init__.py").is_file()
    assert (target / "kept" / "config.example.toml").is_file()
    assert (target / "kept" / "extractors" / "patterns").is_dir()
    code = (
        "import kept.daemon, kept.storage.base, kept.mailboxes.base, kept.extractors, kept.digest, kept.config;"
        "import importlib.util as u; assert u.find_spec('daemon') is None; print(kept.daemon.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {code}"],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    )
    assert out.stdout.strip().startswith(str(target))
