"""``show_if``: declarative display conditions over earlier answers.

A condition is a small tree, never an expression string, and is evaluated without
``eval``::

    {item: BR_FEE, equals: 1}                 # leaf: the answer is exactly 1
    {item: NPS, in: [0, 1, 2]}                # leaf: the answer is one of these codes
    {item: TRUST_OVERALL, at_least: 5}        # leaf: the answer is >= 5
    {item: TRUST_OVERALL, at_most: 3}         # leaf: the answer is <= 3
    {all: [COND, ...]}  {any: [COND, ...]}  {not: COND}

A leaf on an item that has no numeric answer (not answered, not shown, "not
applicable") is false, so ``{not: {item: X, equals: 1}}`` is true when X was not
answered. This module parses and evaluates; :mod:`instruments.loader` checks the
references (known, earlier items), cycles and satisfiability against the instrument.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Union

OPERATORS = ("equals", "in", "at_least", "at_most")
COMBINATORS = ("all", "any", "not")
MAX_DEPTH = 8  # nesting deeper than this is a mistake, and bounds the recursion


def answer_code(value: Any) -> int | None:
    """An answer as an integer code, or ``None`` when it is not a numeric answer.

    Accepts ints, integral floats (pandas stores codes as floats next to NaN),
    booleans (a checked checklist box) and decimal strings (a posted form value).
    """
    if value is None or isinstance(value, bool):
        return None if value is None else int(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        return int(f) if math.isfinite(f) and f.is_integer() else None
    if isinstance(value, str):
        s = value.strip()
        if s.lstrip("-").isdigit() and s.count("-") <= 1 and not s.endswith("-"):
            return int(s)
    return None


@dataclass(frozen=True)
class Leaf:
    """``{item: ID, <op>: value}``; ``value`` is a tuple of codes for ``in``."""

    item: str
    op: str
    value: int | tuple[int, ...]

    def test(self, code: int | None) -> bool:
        if code is None:
            return False
        if self.op == "equals":
            return code == self.value
        if self.op == "in":
            return code in self.value  # type: ignore[operator]
        if self.op == "at_least":
            return code >= self.value  # type: ignore[operator]
        return code <= self.value  # type: ignore[operator]

    def evaluate(self, answers: Mapping[str, Any]) -> bool:
        return self.test(answer_code(answers.get(self.item)))

    def leaves(self) -> Iterator[Leaf]:
        yield self

    def to_dict(self) -> dict:
        return {"item": self.item, self.op: list(self.value) if self.op == "in" else self.value}


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Condition, ...]

    def evaluate(self, answers: Mapping[str, Any]) -> bool:
        return all(p.evaluate(answers) for p in self.parts)

    def leaves(self) -> Iterator[Leaf]:
        for p in self.parts:
            yield from p.leaves()

    def to_dict(self) -> dict:
        return {"all": [p.to_dict() for p in self.parts]}


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Condition, ...]

    def evaluate(self, answers: Mapping[str, Any]) -> bool:
        return any(p.evaluate(answers) for p in self.parts)

    def leaves(self) -> Iterator[Leaf]:
        for p in self.parts:
            yield from p.leaves()

    def to_dict(self) -> dict:
        return {"any": [p.to_dict() for p in self.parts]}


@dataclass(frozen=True)
class Not:
    part: Condition

    def evaluate(self, answers: Mapping[str, Any]) -> bool:
        return not self.part.evaluate(answers)

    def leaves(self) -> Iterator[Leaf]:
        yield from self.part.leaves()

    def to_dict(self) -> dict:
        return {"not": self.part.to_dict()}


Condition = Union[Leaf, AllOf, AnyOf, Not]  # noqa: UP007 (a runtime alias)


def referenced_items(cond: Condition) -> tuple[str, ...]:
    """The item ids a condition reads, in first-use order, without repeats."""
    return tuple(dict.fromkeys(leaf.item for leaf in cond.leaves()))


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list) and not value:
        return "an empty list"
    return {dict: "a mapping", list: "a list"}.get(type(value), type(value).__name__)


def parse_condition(
    value: Any, path: str, err: Callable[[str, str], None], _depth: int = 0
) -> Condition | None:
    """Parse a ``show_if`` mapping; report problems as ``err(path, message)``.

    Returns ``None`` if anything was wrong (every problem is reported).
    """
    if _depth > MAX_DEPTH:
        err(path, f"is nested more than {MAX_DEPTH} levels deep")
        return None
    if not isinstance(value, dict):
        err(
            path,
            "must be a mapping such as {item: BR_FEE, equals: 1}, "
            f"{{all: [...]}}, {{any: [...]}} or {{not: {{...}}}}, got {_kind(value)}",
        )
        return None
    keys = set(value)
    combos = keys & set(COMBINATORS)
    if combos:
        if len(keys) != 1:
            err(
                path,
                f"{' / '.join(sorted(keys))}: a combinator ({', '.join(COMBINATORS)}) "
                "must be the only key of its mapping",
            )
            return None
        (key,) = combos
        if key == "not":
            part = parse_condition(value["not"], f"{path}.not", err, _depth + 1)
            return None if part is None else Not(part)
        raw = value[key]
        if not isinstance(raw, list) or not raw:
            err(f"{path}.{key}", f"must be a non-empty list of conditions, got {_kind(raw)}")
            return None
        parts = [
            parse_condition(p, f"{path}.{key}[{k}]", err, _depth + 1) for k, p in enumerate(raw)
        ]
        if any(p is None for p in parts):
            return None
        return (AllOf if key == "all" else AnyOf)(tuple(parts))  # type: ignore[arg-type]
    unknown = keys - {"item", *OPERATORS}
    if unknown:
        err(
            path,
            f"unknown field(s) {', '.join(sorted(map(str, unknown)))} (a condition is "
            "{item: ID, equals|in|at_least|at_most: value} or all/any/not)",
        )
        return None
    if "item" not in value:
        err(f"{path}.item", "is required (the id of an earlier question)")
        return None
    item = value["item"]
    if not isinstance(item, str) or not item.strip():
        err(f"{path}.item", f"must be an item id, got {_kind(item)}")
        return None
    ops = [k for k in OPERATORS if k in value]
    if len(ops) != 1:
        err(
            path,
            "needs exactly one of equals, in, at_least, at_most"
            + (f" (got {', '.join(ops)})" if ops else ""),
        )
        return None
    op = ops[0]
    raw = value[op]
    if op == "in":
        if not isinstance(raw, list) or not raw:
            err(f"{path}.in", f"must be a non-empty list of answer codes, got {_kind(raw)}")
            return None
        bad = [v for v in raw if isinstance(v, bool) or not isinstance(v, int)]
        if bad:
            err(
                f"{path}.in",
                f"must list integer answer codes, got {_kind(bad[0])}"
                + (" (checklist answers are 1 = yes, 0 = no)" if isinstance(bad[0], bool) else ""),
            )
            return None
        return Leaf(item, op, tuple(dict.fromkeys(raw)))
    if isinstance(raw, bool) or not isinstance(raw, int):
        err(
            f"{path}.{op}",
            f"must be an integer answer code, got {_kind(raw)}"
            + (" (checklist answers are 1 = yes, 0 = no)" if isinstance(raw, bool) else ""),
        )
        return None
    return Leaf(item, op, raw)


def satisfiable(
    cond: Condition, domains: Mapping[str, tuple[int, ...]], limit: int = 200_000
) -> bool | None:
    """Whether some answers make ``cond`` true.

    ``domains`` gives each referenced item's possible codes; "no numeric answer" is
    always possible too. Values of one item that every leaf treats alike are
    interchangeable, so one value per class is tried. ``None`` if the search would
    exceed ``limit`` combinations (then nothing is claimed).
    """
    by_item: dict[str, list[Leaf]] = {}
    for leaf in cond.leaves():
        by_item.setdefault(leaf.item, []).append(leaf)
    choices: list[list[int | None]] = []
    items = list(by_item)
    for item in items:
        classes: dict[tuple[bool, ...], int | None] = {}
        for v in (None, *domains.get(item, ())):
            classes.setdefault(tuple(leaf.test(v) for leaf in by_item[item]), v)
        choices.append(list(classes.values()))
    if math.prod(len(c) for c in choices) > limit:
        return None
    return any(
        cond.evaluate(dict(zip(items, combo, strict=True))) for combo in itertools.product(*choices)
    )
