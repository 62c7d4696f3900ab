"""The model registry: versions per name, one active, lineage and metrics."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.core.errors import Conflict, Invalid, NotFound
from bot.core.naming import parse_ref, pick_prefix
from bot.core.types import ACTIVE
from storage.ids import new_id
from storage.registry import ModelRow
from storage.store import Store
from trainer.artifacts import TRAINBOT_JSON, relative_record
from trainer.merge import MergeError, MergeRequest, merge_in_worker

DEFAULT_MODEL_KEY = "registry.default_model"


class ModelService:
    """Register, resolve, activate and delete model versions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def register_local(
        self,
        *,
        name: str,
        job_id: str,
        dataset_id: str,
        base: str,
        output_dir: Path,
        metrics: dict[str, Any],
    ) -> ModelRow:
        """Move a finished model folder into the registry as the next version of `name`."""
        model_id = new_id()
        target = self.store.artifacts.model_dir(model_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        kind, base_path = _kind_of(output_dir)
        started = await self.store.models.get(base) if kind == "adapter" else None
        if started is not None and started.is_adapter:
            # A continued adapter: its lineage is the adapter's own base (the version
            # whose deletion it blocks, the folder it loads onto), and it says where from.
            base, base_path = started.base, started.base_path or base_path
            metrics = {**metrics, "continued_from": started.label}
        row = ModelRow(
            id=model_id,
            name=name,
            version=0,  # allocated under the catalog lock
            backend="local",
            path=str(target),
            remote_id=None,
            job_id=job_id,
            dataset_id=dataset_id,
            base=base,
            metrics=metrics,
            size_bytes=_folder_size(output_dir),
            active=False,
            created_at=time.time(),
            kind=kind,
            base_path=base_path,
        )
        async with self.store.catalog:
            found = await self._insert(row)
            try:
                # Renamed only once the row exists (same file system: the folder appears
                # whole or not at all); a failed move takes the row back out, so there is
                # never a folder without a row nor a row without a folder.
                shutil.move(str(output_dir), str(target))
            except BaseException:
                await self.store.models.delete(model_id)
                self.store.artifacts.remove(target)
                raise
        relative_record(target, self.store.artifacts.root)
        return found

    async def register_remote(
        self,
        *,
        name: str,
        job_id: str,
        dataset_id: str,
        base: str,
        remote_id: str,
        metrics: dict[str, Any],
    ) -> ModelRow:
        """Register a model that lives at a remote API (generation goes there)."""
        row = ModelRow(
            id=new_id(),
            name=name,
            version=0,  # allocated under the catalog lock
            backend="openai",
            path="",
            remote_id=remote_id,
            job_id=job_id,
            dataset_id=dataset_id,
            base=base,
            metrics=metrics,
            size_bytes=0,
            active=False,
            created_at=time.time(),
        )
        async with self.store.catalog:
            return await self._insert(row)

    async def _insert(self, model: ModelRow) -> ModelRow:
        # The caller holds the catalog lock: the version number and the first-version
        # activation are decided and written without another writer in between.
        model = replace(model, version=await self.store.models.next_version(model.name))
        await self.store.models.insert(model)
        # The first version of a name becomes active; later ones wait for `activate`,
        # so a retrain never swaps what people are using without someone deciding.
        if not await self.store.models.active(model.name):
            await self.store.models.activate(model)
            if await self.store.state.get(DEFAULT_MODEL_KEY) is None:
                await self.store.state.set(DEFAULT_MODEL_KEY, model.name)
        return await self._current(model.id)

    async def _current(self, model_id: str) -> ModelRow:
        found = await self.store.models.get(model_id)
        if found is None:  # only a bug gets here: the caller holds the catalog lock
            raise NotFound(f"model {model_id} vanished while it was written")
        return found

    async def merge(self, ref: str) -> ModelRow:
        """Fold an adapter into its base: a full model, the next version of the adapter's name."""
        adapter = await self.resolve(ref)
        if not adapter.is_adapter:
            raise Invalid(f"{adapter.label} is a full model already; only LoRA adapters merge")
        if not adapter.base_path or not Path(adapter.base_path).is_dir():
            raise Conflict(f"the base of {adapter.label} is gone; it cannot be merged")
        work = self.store.artifacts.job_dir(f"merge-{new_id()}")
        try:
            request = MergeRequest(adapter.path, str(work / "model"), adapter.base_path)
            try:
                await merge_in_worker(request)
            except MergeError as exc:
                raise Conflict(f"merging {adapter.label} failed: {exc}") from None
            return await self.register_local(
                name=adapter.name,
                job_id=adapter.job_id or "",
                dataset_id=adapter.dataset_id or "",
                base=adapter.base,
                output_dir=work / "model",
                metrics={**adapter.metrics, "merged_from": adapter.label},
            )
        finally:
            self.store.artifacts.remove(work)

    async def resolve(self, ref: str) -> ModelRow:
        """A version by id, id prefix, `name@vN`, or `name` (its active version)."""
        found = await self.store.models.get(ref)
        if found:
            return found
        parsed = parse_ref(ref)
        if parsed.version is not None:
            found = await self.store.models.get_version(parsed.name, parsed.version)
        else:
            active = await self.store.models.active(parsed.name)
            if active:
                found = active[0]
            elif await self.store.models.find(parsed.name):
                raise NotFound(f"model {ref!r} has no active version; activate one first")
        if not found:
            prefix = pick_prefix("model", ref, await self.store.models.ids_with_prefix(ref))
            found = await self.store.models.get(prefix) if prefix else None
        if not found:
            raise NotFound(f"no model {ref!r}; `!models` or GET /v1/models lists them")
        return found

    async def default(self) -> ModelRow:
        """The model used when none is named: the active version of the last activated name."""
        name = await self.store.state.get(DEFAULT_MODEL_KEY)
        if name:
            active = await self.store.models.active(name)
            if active:
                return active[0]
        active = await self.store.models.active()
        if not active:
            raise NotFound("no model is active yet; train one with `!train <dataset>`")
        return active[0]

    async def versions(self, name: str | None = None) -> list[ModelRow]:
        """Every version (of one name), newest first."""
        return await self.store.models.find(name)

    async def activate(self, ref: str) -> ModelRow:
        """Make a version the active one of its name and the default for generation."""
        async with self.store.catalog:
            # Resolved under the lock: a version deleted a moment ago is not found
            # instead of becoming an active version that no longer exists.
            model = await self.resolve(ref)
            await self.store.models.activate(model)
            await self.store.state.set(DEFAULT_MODEL_KEY, model.name)
            return await self._current(model.id)

    async def delete(self, ref: str) -> ModelRow:
        """Remove a version; refused for the active one and for a base of a busy job."""
        async with self.store.catalog:
            model = await self.resolve(ref)
            if model.active:
                raise Conflict(
                    f"{model.label} is the active version; activate another version first"
                )
            users = [
                job.id for job in await self.store.jobs.with_status(*ACTIVE) if job.base == model.id
            ]
            if users:
                raise Conflict(f"{model.label} is the base of job {', '.join(users)}")
            adapters = [a.label for a in await self.store.models.adapters_of(model.id)]
            if adapters:
                raise Conflict(
                    f"{model.label} is the base of adapter {', '.join(adapters)}; "
                    "delete the adapters first (or merge them into full models)"
                )
            await self.store.models.delete(model.id)
        if model.path:
            self.store.artifacts.remove(Path(model.path))
        return model


def _kind_of(folder: Path) -> tuple[str, str]:
    """("adapter", its base folder) for a LoRA adapter folder, else ("full", "")."""
    if not (folder / "adapter_config.json").is_file():
        return "full", ""
    record_path = folder / TRAINBOT_JSON
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    return "adapter", str(record.get("base_path") or "")


def _folder_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        total += sum((Path(root) / f).stat().st_size for f in files)
    return total
