"""Text from mail on a terminal: always shown as data, never read as markup or escapes.

A sender's name, a subject or a promise sentence is written by somebody
else. Printed as it is, ``[link=https://evil.example]Anna[/link]`` would be
read by Rich as markup (a clickable link; ``[/bold]`` alone crashes the
command), and ``ESC ] 8 ;; ...``, ``ESC [ 31 m``, the C1 control ``0x9b``
or a bidi override (U+202E) would be obeyed by the terminal. So:

* `make_console` makes the one kind of Rich console the commands print
  with: no markup, no emoji codes, no highlighting: a string is shown as
  the characters it holds;
* `terminal_line` and `terminal_text` turn any value into text a terminal
  only displays: C0 and C1 controls, DEL and the bidi embedding, override
  and isolate characters are shown as visible escapes (``\\x1b``,
  ``\\u202e``), and `terminal_line` flattens line breaks for table cells and
  one-line messages;
* `add_row` puts every cell of a table through `terminal_line`;
* `terminal_json` is JSON that decodes to the same data and carries none of
  those characters raw (they become ``\\u`` escapes).

The functions are idempotent (what they return holds nothing they would
change) and below every stage, so the digest's plain text can use them too.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Only for annotations: rich loads when a command prints a table.
    from rich.console import Console
    from rich.table import Table

__all__ = ["add_row", "make_console", "terminal_json", "terminal_json_stream", "terminal_line", "terminal_text"]

# What a terminal may obey rather than show: C0 controls but tab and line
# feed, DEL, C1 controls (0x9b is a one-byte CSI), and the bidi embeddings,
# overrides and isolates that reorder what is shown ("trojan source").
# The bidi marks (U+200E, U+200F, U+061C) only nudge neutral characters in
# right-to-left names, and stay.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# A run of line breaks (all str.splitlines() knows) and the blanks around it.
_LINE_BREAKS = re.compile("(?:[ \t]*(?:\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029])[ \t]*)+")
# What JSON text may not carry raw either (the json module escapes C0 itself).
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(value: object) -> str:
    """`value` as text a terminal only displays, its line breaks kept (as ``\\n``).

    Every line break Python knows (CR, CR LF, VT, FF, NEL, U+2028, ...)
    becomes a line feed; every other control, DEL and bidi override or
    isolate is shown as an escape (ESC as ``\\x1b``, U+202E as ``\\u202e``).
    """
    text = str(value)
    lines = [_UNSAFE.sub(_visible, line) for line in text.splitlines()]
    ends = text.endswith(("\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"))
    return "\n".join(lines) + ("\n" if ends and lines else "")


def terminal_line(value: object) -> str:
    """`value` as one line a terminal only displays: a table cell, a line of a message.

    Each run of line breaks (and the blanks around it) becomes one space,
    other spaces stay (columns line up); controls, DEL and bidi overrides
    and isolates are shown as escapes, as in `terminal_text`.
    """
    return _UNSAFE.sub(_visible, _LINE_BREAKS.sub(" ", str(value)))


def terminal_json(value: Any) -> str:
    """`value` as indented JSON text that is safe on a terminal and decodes to `value`.

    Non-ASCII text stays readable (``ensure_ascii=False``); the json module
    escapes C0 controls itself, and DEL, C1 controls, U+2028/U+2029 and the
    bidi overrides and isolates are written as ``\\uXXXX`` escapes too. They
    can only occur inside strings, where the escape means the same character.
    """
    return _escape_unsafe(_indented_json(value, ""))


def _indented_json(value: Any, indent: str) -> str:
    """``json.dumps(value, indent=2, ensure_ascii=False, default=str)``, every line after the first
    starting with `indent`, character for character.

    With an indent the json module falls back to its pure-Python encoder,
    a generator yielding every bracket, comma and key separately, which
    was most of the time of ``kept export`` of a 200,000-message database
    (issue 16). This walks the containers itself and leaves
    strings to the json module's C escaper. The checks run in the json
    module's order (``True`` is an int, a str subclass is a string); a
    reference cycle, which stored data cannot hold, overflows the stack
    rather than raising ValueError.
    """
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None or isinstance(value, (int, float)):
        return _json_key(value)  # the same text as a key's (bool before int)
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        inner = indent + "  "
        items = (",\n" + inner).join([_indented_json(item, inner) for item in value])
        return "[\n" + inner + items + "\n" + indent + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = indent + "  "
        members = (",\n" + inner).join(
            [
                encode_basestring(_json_key(key)) + ": " + _indented_json(item, inner)
                for key, item in value.items()
            ]
        )
        return "{\n" + inner + members + "\n" + indent + "}"
    return _indented_json(str(value), indent)


def _float_json(value: float) -> str:
    """A float as the json module writes it (``NaN`` and ``Infinity`` allowed)."""
    if value != value:
        return "NaN"
    if value == float("inf"):
        return "Infinity"
    if value == float("-inf"):
        return "-Infinity"
    return float.__repr__(value)


def _json_key(key: object) -> str:
    """An object key as the json module turns it into a string (it refuses any other type); a scalar's JSON text."""
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _float_json(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def _escape_unsafe(json_text: str) -> str:
    """JSON text with the characters of `_JSON_UNSAFE` written as ``\\u`` escapes (only strings hold them)."""
    return _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", json_text)


def terminal_json_stream(fields: Iterable[tuple[str, Any]]) -> Iterator[str]:
    """`terminal_json` of a JSON object, written a piece at a time.

    `fields` are the object's (name, value) pairs; a value that is an
    iterator (not a list or a mapping) is written as a JSON array one item
    at a time and never held whole, so ``kept export`` of a 20-year
    database needs the memory of one record, not of all of them. The text
    is exactly `terminal_json` of the same object.
    """

    def nested(value: Any, indent: str) -> str:
        return _escape_unsafe(_indented_json(value, indent))

    yield "{"
    first = True
    for name, value in fields:
        yield ("\n" if first else ",\n") + "  " + nested(name, "  ") + ": "
        first = False
        if isinstance(value, Iterator):
            opened = False
            for item in value:
                yield (",\n    " if opened else "[\n    ") + nested(item, "    ")
                opened = True
            yield "\n  ]" if opened else "[]"
        else:
            yield nested(value, "  ")
    yield "\n}" if not first else "}"


def make_console() -> Console:
    """The Rich console commands print tables with: strings are shown, never read as markup.

    No markup (``[red]`` stays ``[red]``), no emoji codes (``:smile:``
    stays), no highlighting of numbers and addresses in mail text.
    """
    from rich.console import Console

    # Piped output (a log, `| less`) gets a fixed comfortable width rather
    # than rich's 80-column fallback, which folds every table cell.
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "120"))
    return Console(markup=False, emoji=False, highlight=False, soft_wrap=False, width=width)


def add_row(table: Table, *cells: object) -> None:
    """Add a row to `table`, each cell put through `terminal_line` (a `Text` is added as it is).

    A `Text` is for a cell made of several lines, each already put through
    `terminal_line` by the caller.
    """
    from rich.text import Text

    table.add_row(*(cell if isinstance(cell, Text) else terminal_line(cell) for cell in cells))

