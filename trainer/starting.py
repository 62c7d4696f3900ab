"""What a run starts from, said in its events and written in its record.

A run may start from a registered LoRA adapter version (`trainer.models.load_start`): a
LoRA or DPO-with-LoRA run continues that adapter, a full run merges it into its base in
memory first. Either way the record names the adapter it started from; a new adapter
names the base folder it loads onto (the adapter's own base, never the adapter).
"""

from __future__ import annotations

from pathlib import Path

from trainer.adapters import adapter_config, base_under
from trainer.callbacks import EventSink
from trainer.models import LoadedBase
from trainer.spec import TrainSpec


def lineage(spec: TrainSpec) -> dict[str, object]:
    """The record's `kind`, `base_path` (an adapter's base folder) and `adapter_from`."""
    under = base_under(spec.base)
    adapter = spec.method.adapter
    return {
        "kind": "adapter" if adapter else "full",
        "base_path": (under or spec.base) if adapter else None,
        "adapter_from": spec.base if under else None,
    }


def say_start(sink: EventSink, base: LoadedBase, spec: TrainSpec) -> None:
    """One event when the run starts from a LoRA adapter: continued, or merged first."""
    if base.adapter_from is None:
        return
    if spec.method.adapter:
        config = adapter_config(Path(base.adapter_from)) or {}
        message = (
            "continuing the LoRA adapter this run starts from, with its own settings "
            f"(r={config.get('r')}, alpha={config.get('lora_alpha')}); the base stays frozen"
        )
    else:
        message = (
            "the LoRA adapter this run starts from is merged into its base in memory; "
            "every weight trains"
        )
    sink({"event": "log", "level": "info", "message": message})
