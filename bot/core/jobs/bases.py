"""What `base=` may name for a local job: a preset, a registered model, an allowed folder.

A base is read by a worker with the service's rights, so the request decides nothing
about the file system: a folder counts only under `trainer.base_dirs` or as a registered
model's folder, a relative path is taken relative to those folders (never to the working
directory), and a hub id only when `trainer.allow_hub` is on. Every refusal is the same
sentence, so an answer tells nothing about which folders exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bot.core.errors import Invalid, NotFound
from bot.core.models import ModelService
from trainer.spec import BASE_PRESETS, PRESETS

# `gpt2`, `openai-community/gpt2`: no leading `/`, `.` or `~`, so never a path.
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?")


@dataclass(frozen=True)
class BaseRules:
    """Where bases may come from: the registry's folder, `base_dirs`, and the hub."""

    models_dir: Path
    base_dirs: tuple[Path, ...] = ()
    allow_hub: bool = False

    def refusal(self, base: str) -> Invalid:
        """The one answer for every base that is not allowed (or does not exist)."""
        choices = [f"a preset ({', '.join(PRESETS)})", "a registered model (`!models`)"]
        if self.base_dirs:
            choices.append("a model folder under trainer.base_dirs")
        if self.allow_hub:
            choices.append("a Hugging Face hub id")
        listed = ", ".join(choices[:-1]) + " or " + choices[-1]
        return Invalid(f"base {base!r} is not available: use {listed}")


async def resolve_base(base: str, models: ModelService, rules: BaseRules) -> tuple[str, str]:
    """(what the job records, what the worker loads) for a local job's `base`."""
    if base in BASE_PRESETS:
        return base, base
    try:
        model = await models.resolve(base)
    except NotFound:
        model = None
    if model is None:
        folder = allowed_folder(base, (rules.models_dir, *rules.base_dirs))
        if folder is not None and folder.parent == rules.models_dir.resolve():
            # A registered model named by its folder is recorded as that model, so it
            # cannot be deleted while the job needs it; an unregistered one is no base.
            model = await models.store.models.get(folder.name)
            if model is None:
                raise rules.refusal(base)
        elif folder is not None:
            return base, str(folder)
        elif rules.allow_hub and HUB_ID.fullmatch(base) and ".." not in base:
            return base, base
        else:
            raise rules.refusal(base)
    if model.backend != "local" or not model.path:
        raise Invalid(f"{model.label} is a remote model and cannot be a local base")
    return model.id, model.path


def allowed_folder(base: str, roots: tuple[Path, ...]) -> Path | None:
    """The folder `base` names inside one of `roots` (links resolved), or None."""
    if not base.strip() or "\x00" in base:
        return None
    raw = Path(base.strip()).expanduser()
    for root in roots:
        top = root.expanduser().resolve()
        try:
            candidate = (raw if raw.is_absolute() else top / raw).resolve()
            found = candidate != top and candidate.is_relative_to(top) and candidate.is_dir()
        except (OSError, ValueError):  # a name too long, a loop of links
            continue
        if found:
            return candidate
    return None
