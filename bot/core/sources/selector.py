"""Pick the text items out of a JSON answer with a dotted path: `data.items[*].text`.

A path is keys separated by dots; `[*]` after a key (or alone at the start) means
"each element of this list", and the rest of the path applies to every element. The
selected value must be a list (its elements are the items) unless the path went through
a `[*]`, in which case each element's value is one item. The empty path selects the
answer itself, which must then be a list.

Errors say where the answer did not fit: `key 'items' not found at data`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SEGMENT = re.compile(r"^(?P<key>[^.\[\]]*)(?P<each>(?:\[\*\])*)$")
EACH = "[*]"


class SelectError(ValueError):
    """The path is malformed, or the answer does not have the shape the path expects."""


@dataclass(frozen=True)
class Step:
    """Descend into a key of an object, or into every element of a list."""

    key: str | None  # None: every element

    def __str__(self) -> str:
        return EACH if self.key is None else self.key


def parse_select(select: str) -> list[Step]:
    """The steps of a path; a SelectError names the part that is not understood."""
    if not select.strip():
        return []
    steps: list[Step] = []
    for number, segment in enumerate(select.strip().split(".")):
        match = SEGMENT.match(segment)
        if match is None or (not match["key"] and not match["each"]):
            raise SelectError(
                f"select {select!r}: cannot read {segment!r}; use keys joined by dots, "
                "with [*] for every element of a list, e.g. data.items[*].text"
            )
        if not match["key"] and number > 0:
            raise SelectError(f"select {select!r}: write key[*], not key.[*]")
        if match["key"]:
            steps.append(Step(match["key"]))
        steps.extend(Step(None) for _ in range(len(match["each"]) // len(EACH)))
    return steps


def select_items(answer: object, select: str) -> list[object]:
    """The items `select` picks out of a parsed JSON answer."""
    steps = parse_select(select)
    if not steps:
        if not isinstance(answer, list):
            raise SelectError(
                f"the answer is {json_kind(answer)}, not a list of items; set select to "
                "where the items are, e.g. data.items[*].text"
            )
        return answer
    label = select.strip()
    if not any(step.key is None for step in steps):
        found = _walk(answer, steps, "", label)[0]
        if not isinstance(found, list):
            where = _path(steps) or "the top level"
            raise SelectError(f"select {label}: expected a list at {where}, got {json_kind(found)}")
        return found
    return _walk(answer, steps, "", label)


def _walk(value: object, steps: list[Step], where: str, label: str) -> list[object]:
    """Every value the remaining steps reach from `value` (found at `where`)."""
    if not steps:
        return [value]
    step, rest = steps[0], steps[1:]
    if step.key is None:
        if not isinstance(value, list):
            at = where or "the top level"
            raise SelectError(f"select {label}: expected a list at {at}, got {json_kind(value)}")
        found: list[object] = []
        for index, element in enumerate(value):
            found.extend(_walk(element, rest, f"{where}[{index}]", label))
        return found
    if not isinstance(value, dict):
        at = where or "the top level"
        raise SelectError(
            f"select {label}: expected an object with key {step.key!r} at {at}, "
            f"got {json_kind(value)}"
        )
    if step.key not in value:
        at = where or "the top level"
        raise SelectError(f"select {label}: key {step.key!r} not found at {at}")
    return _walk(value[step.key], rest, f"{where}.{step.key}" if where else step.key, label)


def _path(steps: list[Step]) -> str:
    text = ""
    for step in steps:
        text += EACH if step.key is None else (f".{step.key}" if text else step.key)
    return text


def json_kind(value: object) -> str:
    """`an object`, `a string`, … as people who write JSON say it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
