"""The ``kept`` program's entry point (``python -m kept.cli`` works too).

The commands themselves live in the package `kept.commands`.
"""

from __future__ import annotations

import sys

from kept.commands import build_parser, main, parse_arguments

__all__ = ["build_parser", "main", "parse_arguments"]

if __name__ == "__main__":
    sys.exit(main())
