"""Each benchmark's figures against its targets, printed the same way.

A benchmark declares a `TARGETS` table: per figure, the bound it must keep
and where that bound comes from (an issue, a test, a docs page). After
measuring, it calls `print_against_targets` with what it measured::

    figure                      measured    target          verdict   from
    open                        0.41 s      ≤ 1.5 s         met       issue 16: start-up < 1.5 s ...

A figure a run did not measure (a smaller run, a skipped step) is listed as
"not measured", never as met.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Target", "print_against_targets", "verdicts"]

_COMPARE = {"≤": operator.le, "<": operator.lt, "≥": operator.ge, ">": operator.gt, "=": operator.eq}


@dataclass(frozen=True)
class Target:
    """One figure's bound.

    :param figure: the figure's name, as the benchmark measures it.
    :param relation: ``"≤"``, ``"<"``, ``"≥"``, ``">"`` or ``"="``.
    :param bound: the number the figure is held to.
    :param unit: shown after both numbers (``"s"``, ``"MB"``, ``""``).
    :param source: where the bound comes from, e.g. ``"issue 16"``.
    """

    figure: str
    relation: str
    bound: float
    unit: str
    source: str

    def __post_init__(self) -> None:
        if self.relation not in _COMPARE:
            raise ValueError(f"{self.figure}: relation {self.relation!r} is not one of {', '.join(_COMPARE)}")

    def met(self, value: float) -> bool:
        """Whether `value` keeps the bound."""
        return bool(_COMPARE[self.relation](value, self.bound))


def _number(value: float, unit: str) -> str:
    text = f"{value:,.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"
    return f"{text} {unit}".rstrip()


def verdicts(targets: Sequence[Target], measured: Mapping[str, float]) -> list[tuple[Target, float | None, str]]:
    """(target, measured value or None, "met" / "NOT MET" / "not measured") for each target."""
    rows: list[tuple[Target, float | None, str]] = []
    for target in targets:
        value = measured.get(target.figure)
        if value is None:
            rows.append((target, None, "not measured"))
        else:
            rows.append((target, value, "met" if target.met(value) else "NOT MET"))
    return rows


def print_against_targets(targets: Sequence[Target], measured: Mapping[str, float], title: str = "") -> bool:
    """Print each target's figure, bound, verdict and source; True when every one is met."""
    rows = verdicts(targets, measured)
    if title:
        print(f"\n{title}")
    width = max([len("figure"), *(len(t.figure) for t, _, _ in rows)])
    print(f"{'figure':<{width}}  {'measured':>14}  {'target':<16}  {'verdict':<12}  from")
    for target, value, verdict in rows:
        shown = "–" if value is None else _number(value, target.unit)
        bound = f"{target.relation} {_number(target.bound, target.unit)}"
        print(f"{target.figure:<{width}}  {shown:>14}  {bound:<16}  {verdict:<12}  {target.source}")
    return all(verdict == "met" for _, _, verdict in rows)
