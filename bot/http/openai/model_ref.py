"""Which model an OpenAI `model` names: a registered version or a base Trainbot offers."""

from __future__ import annotations

from bot.core.errors import Invalid, NotFound
from bot.http.openai import ids
from bot.http.openai.errors import OpenAIError
from bot.http.routing import Call
from storage.registry import ModelRow
from trainer.spec import BASE_PRESETS, PRESETS


def bases(call: Call) -> list[str]:
    """The presets people may train from (and the configured default base)."""
    default = call.state.settings.trainer.default_base
    extra = [default] if default in BASE_PRESETS and default not in PRESETS else []
    return [*PRESETS, *extra]


async def registered(call: Call, given: str) -> ModelRow | None:
    """The registry version `given` names (`ft:…:<job>`, `name@vN`, `name`, id), or None."""
    job_id = ids.job_of_model(given)
    if job_id is not None:
        job = await call.services.store.jobs.get(job_id)
        if job is None or job.model_id is None:
            return None
        return await call.services.store.models.get(job.model_id)
    try:
        return await call.services.models.resolve(given)
    except (NotFound, Invalid):
        return None


async def usable(call: Call, given: str) -> ModelRow:
    """A registered version to generate with; 404 in OpenAI's words otherwise."""
    model = await registered(call, given)
    if model is not None:
        return model
    if given in bases(call):
        raise OpenAIError(
            f"The model {given!r} is a base preset: fine-tune it first, then use the "
            "fine_tuned_model of the job",
            param="model",
            status=404,
            code="model_not_found",
        )
    raise missing(given)


def missing(given: str) -> OpenAIError:
    """OpenAI's answer for a model that does not exist."""
    return OpenAIError(
        f"The model {given!r} does not exist", param="model", status=404, code="model_not_found"
    )
