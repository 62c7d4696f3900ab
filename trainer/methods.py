"""How a job trains: all weights, a LoRA adapter, or DPO on preference pairs.

Pure data and checks (no torch): the main process parses what people ask for here, so a
bad setting is refused at submit with one readable sentence, and the worker receives the
checked `Method` inside the `TrainSpec`. Whether the named LoRA targets exist in the base
can only be seen with the model loaded; the worker checks that (`trainer.lora`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

METHOD_TYPES: tuple[str, ...] = ("full", "lora", "dpo")
QUANTIZE: tuple[str, ...] = ("4bit",)


class MethodError(ValueError):
    """A method setting that cannot be used; `problems` lists each one in words."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class LoraOptions:
    """peft's LoRA settings; empty `targets` means every linear layer but the output head."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    targets: tuple[str, ...] = ()
    quantize: str | None = None  # "4bit": QLoRA (bitsandbytes and CUDA only)


@dataclass(frozen=True)
class DpoOptions:
    """TRL's DPO settings."""

    beta: float = 0.1


@dataclass(frozen=True)
class Method:
    """The checked method of a job; `lora` is set for LoRA and for DPO with an adapter."""

    type: str = "full"
    lora: LoraOptions | None = None
    dpo: DpoOptions | None = None

    @property
    def adapter(self) -> bool:
        """Whether the run produces a LoRA adapter rather than a full model."""
        return self.lora is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (stored with the job)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Method:
        """Rebuild a method stored with `to_dict` (a spec without one trains all weights)."""
        if not raw:
            return cls()
        lora = raw.get("lora")
        dpo = raw.get("dpo")
        return cls(
            type=str(raw.get("type", "full")),
            lora=LoraOptions(**{**lora, "targets": tuple(lora.get("targets") or ())})
            if lora
            else None,
            dpo=DpoOptions(**dpo) if dpo else None,
        )


@dataclass
class _Checker:
    """Collects every problem of one raw method, so a refusal lists them all."""

    problems: list[str] = field(default_factory=list)

    def number(
        self, raw: dict[str, Any], key: str, default: float, low: float, high: float, kind: type
    ) -> float:
        value = raw.get(key, default)
        try:
            number = _convert(value, kind)
        except (TypeError, ValueError):
            article = "an integer" if kind is int else "a number"
            self.problems.append(f"{key} must be {article}, got {value!r}")
            return default
        if not low <= number <= high:
            self.problems.append(f"{key} must be between {low:g} and {high:g}, got {number:g}")
            return default
        return number

    def unknown(self, raw: dict[str, Any], known: tuple[str, ...], where: str) -> None:
        for key in raw:
            if key not in known:
                self.problems.append(f"unknown {where} setting {key!r} (known: {', '.join(known)})")


def parse_method(raw: dict[str, Any] | None) -> Method:
    """Check a raw method ({"type": "lora", "lora": {"r": 16}}); MethodError lists problems."""
    if not raw:
        return Method()
    if not isinstance(raw, dict):
        raise MethodError([f"method must be an object like {{'type': 'lora'}}, got {raw!r}"])
    check = _Checker()
    check.unknown(raw, ("type", "lora", "dpo"), "method")
    kind = str(raw.get("type", "full")).lower()
    if kind not in METHOD_TYPES:
        raise MethodError([f"method must be one of {', '.join(METHOD_TYPES)}, got {kind!r}"])
    lora_raw, dpo_raw = raw.get("lora"), raw.get("dpo")
    for name, part in (("lora", lora_raw), ("dpo", dpo_raw)):
        if part is not None and not isinstance(part, dict):
            check.problems.append(f"method {name} settings must be an object, got {part!r}")
    lora = _lora(lora_raw, check) if isinstance(lora_raw, dict) or kind == "lora" else None
    if lora_raw and kind == "full":
        check.problems.append("LoRA settings need method=lora (or method=dpo with an adapter)")
    dpo = None
    if kind == "dpo":
        dpo = _dpo(dpo_raw if isinstance(dpo_raw, dict) else {}, check)
    elif dpo_raw:
        check.problems.append("beta is a DPO setting: use it with method=dpo")
    if check.problems:
        raise MethodError(check.problems)
    return Method(type=kind, lora=lora, dpo=dpo)


def _lora(raw: dict[str, Any] | None, check: _Checker) -> LoraOptions:
    raw = raw or {}
    known = ("r", "alpha", "dropout", "targets", "quantize")
    check.unknown(raw, known, "LoRA")
    r = check.number(raw, "r", 16, 1, 1024, int)
    alpha = check.number(raw, "alpha", 2 * r, 1, 100_000, int)
    dropout = check.number(raw, "dropout", 0.05, 0.0, 0.9, float)
    quantize = raw.get("quantize")
    if quantize is not None and str(quantize).lower() not in QUANTIZE:
        check.problems.append(f"quantize must be {' or '.join(QUANTIZE)}, got {quantize!r}")
        quantize = None
    return LoraOptions(
        r=int(r),
        alpha=int(alpha),
        dropout=float(dropout),
        targets=_targets(raw.get("targets"), check),
        quantize=str(quantize).lower() if quantize is not None else None,
    )


def _targets(value: object, check: _Checker) -> tuple[str, ...]:
    """`"q_proj,v_proj"` (chat) or `["q_proj", "v_proj"]` (JSON); names, not patterns."""
    if value is None or value == "" or value == "all":
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        check.problems.append(f"targets must be layer names like q_proj,v_proj, got {value!r}")
        return ()
    names = tuple(i.strip() for i in items if i.strip())
    bad = [n for n in names if not n.replace("_", "").replace(".", "").isalnum()]
    if bad:
        check.problems.append(f"targets must be layer names like q_proj, got {', '.join(bad)}")
        return ()
    return names


def _dpo(raw: dict[str, Any], check: _Checker) -> DpoOptions:
    check.unknown(raw, ("beta",), "DPO")
    return DpoOptions(beta=float(check.number(raw, "beta", 0.1, 1e-4, 10.0, float)))


def _convert(value: object, kind: type) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(value)
    if kind is int:
        number = float(value)
        if not number.is_integer():
            raise ValueError(value)
        return int(number)
    return float(value)
