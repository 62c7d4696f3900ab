"""Generating a dataset from a template: check the spec, expand the cartesian product.

`template` is the generation prompt the chat model completes; `prompt` is the final
prompt stored with each answer (default: the values joined with ", " in the template's
placeholder order). Both name their placeholders as `{name}`; other text is kept as is.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.core.errors import Invalid

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
MAX_COMBINATIONS = 5000
DEFAULT_MAX_TOKENS = 256
MAX_TOKENS_LIMIT = 4096


@dataclass(frozen=True)
class Combination:
    """One filled pair: what the model is asked, and the final prompt stored."""

    number: int  # 1-based, in expansion order
    values: dict[str, str]
    generation_prompt: str
    final_prompt: str

    def describe(self) -> str:
        """`race=elf, class=wizard` for reports."""
        return ", ".join(f"{name}={value}" for name, value in self.values.items())


@dataclass(frozen=True)
class TemplateSpec:
    """A checked template: the generation prompt, the final prompt and the value lists."""

    template: str
    prompt: str
    variables: dict[str, tuple[str, ...]]
    max_tokens: int
    temperature: float | None

    @property
    def count(self) -> int:
        """How many combinations (and so API calls and pairs) the spec makes."""
        return math.prod(len(values) for values in self.variables.values())

    def combinations(self) -> list[Combination]:
        """Every combination, the last variable changing fastest."""
        names = list(self.variables)
        found = []
        for number, picked in enumerate(itertools.product(*self.variables.values()), 1):
            values = dict(zip(names, picked, strict=True))
            found.append(
                Combination(number, values, fill(self.template, values), fill(self.prompt, values))
            )
        return found


def placeholders(text: str) -> list[str]:
    """Placeholder names in order of first appearance."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def fill(text: str, values: Mapping[str, str]) -> str:
    """The text with every `{name}` replaced by its value."""
    return PLACEHOLDER.sub(lambda m: values[m[1]], text)


def split_values(name: str, raw: str) -> tuple[str, ...]:
    """`human, elf` → ("human", "elf"); empty values are refused."""
    return check_values(name, raw.split(","))


def check_values(name: str, values: Sequence[str]) -> tuple[str, ...]:
    """Trimmed values of one list; empty or repeated values are refused."""
    cleaned = tuple(value.strip() for value in values)
    if not cleaned or any(not value for value in cleaned):
        raise Invalid(f"{name} has an empty value: give comma-separated values, e.g. {name}=a,b")
    repeated = sorted({value for value in cleaned if cleaned.count(value) > 1})
    if repeated:
        raise Invalid(f"{name} lists {', '.join(map(repr, repeated))} more than once")
    return cleaned


def make_spec(
    template: str,
    variables: Mapping[str, Sequence[str]],
    prompt: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
) -> TemplateSpec:
    """Check a template and its lists; `Invalid` says what is wrong."""
    if not template.strip():
        raise Invalid("the template is empty")
    used = placeholders(template)
    if not used:
        raise Invalid('the template has no {placeholder}: e.g. template="Describe a {race}"')
    final = prompt if prompt is not None else ", ".join("{" + name + "}" for name in used)
    if not final.strip():
        raise Invalid("the prompt is empty")
    lists = {name: check_values(name, values) for name, values in variables.items()}
    for name in placeholders(final) + used:
        if name not in lists:
            raise Invalid(f"placeholder {{{name}}} has no list: add {name}=value1,value2")
    unused = [name for name in lists if name not in used and name not in placeholders(final)]
    if unused:
        raise Invalid(f"{', '.join(unused)} is not used by the template or the prompt")
    spec = TemplateSpec(template, final, lists, _max_tokens(max_tokens), _temperature(temperature))
    if spec.count > MAX_COMBINATIONS:
        sizes = " × ".join(str(len(values)) for values in lists.values())
        raise Invalid(f"{sizes} = {spec.count} combinations; at most {MAX_COMBINATIONS} at once")
    return spec


def _max_tokens(value: int | None) -> int:
    if value is None:
        return DEFAULT_MAX_TOKENS
    if not 1 <= value <= MAX_TOKENS_LIMIT:
        raise Invalid(f"max_tokens must be between 1 and {MAX_TOKENS_LIMIT}, got {value}")
    return value


def _temperature(value: float | None) -> float | None:
    if value is not None and not 0 <= value <= 2:  # NaN is not in range either
        raise Invalid(f"temperature must be between 0 and 2, got {value}")
    return value
