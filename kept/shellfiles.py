"""Shell completion (bash, zsh) and the man page, generated from the parser.

``python -m kept.shellfiles --prefix ~/.local`` writes::

    PREFIX/share/bash-completion/completions/kept
    PREFIX/share/zsh/site-functions/_kept
    PREFIX/share/man/man1/kept.1

where bash-completion and man find them for a ``kept`` in ``PREFIX/bin``
(zsh needs ``fpath+=(PREFIX/share/zsh/site-functions)`` before
``compinit``). scripts/install.sh runs it after installing kept; packagers
can run it with another prefix (``make shell-files`` writes into build/).

Both come from `kept.cli.build_parser`, so they list every command and
option the installed kept has: shtab writes the completion scripts,
argparse-manpage the roff page.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import shtab
from argparse_manpage.manpage import Manpage

from kept import __version__
from kept.cli import build_parser

#: Where each file goes under the prefix.
BASH_COMPLETION = Path("share/bash-completion/completions/kept")
ZSH_COMPLETION = Path("share/zsh/site-functions/_kept")
MAN_PAGE = Path("share/man/man1/kept.1")

#: Metavars of options that name a file: the shells complete file names there.
_FILE_METAVARS = frozenset({"PATH", "FILE"})


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every sub-command's parser, depth first."""
    yield parser
    for action in parser._actions:  # argparse has no public walk; shtab reads the same list
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def completion_parser() -> argparse.ArgumentParser:
    """kept's parser with file-name completion on the options that take a file."""
    parser = build_parser()
    for each in _parsers(parser):
        for action in each._actions:
            if action.metavar in _FILE_METAVARS:
                action.complete = shtab.FILE  # type: ignore[attr-defined]  # shtab's documented hook
    return parser


def completion(shell: str) -> str:
    """The completion script for `shell` ("bash" or "zsh")."""
    return str(shtab.complete(completion_parser(), shell=shell))


def man_page() -> str:
    """The kept(1) man page, in roff."""
    page = Manpage(build_parser())
    page.description = "finds the promises you make by email and who is waiting on you"
    page.source = f"kept {__version__}"
    page.manual = "kept manual"
    return str(page)


def write_all(prefix: Path) -> list[Path]:
    """Write the completion scripts and the man page under `prefix`; the paths written."""
    contents = {
        BASH_COMPLETION: completion("bash"),
        ZSH_COMPLETION: completion("zsh"),
        MAN_PAGE: man_page(),
    }
    written: list[Path] = []
    for relative, text in contents.items():
        path = prefix / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Write the files under --prefix and name them."""
    parser = argparse.ArgumentParser(prog="python -m kept.shellfiles", description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", type=Path, default=Path("~/.local"),
                        help="install prefix, the parent of share/ (default: ~/.local)")
    args = parser.parse_args(argv)
    for path in write_all(args.prefix.expanduser()):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
