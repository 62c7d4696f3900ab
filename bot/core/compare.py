"""Two model versions side by side: eval loss on the same examples, answers to one prompt.

Behind `!compare` and POST /v1/models/{id}/compare. The eval loss is measured by an eval
worker (`trainer.workers.eval`, forked for the comparison and closed after it) on the
newest examples of one dataset (named, or the first model's training data), so the two
numbers are comparable; the answers are greedy, so they are repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.errors import Invalid
from bot.core.services import Services
from storage.datasets import DatasetRow
from storage.registry import ModelRow
from trainer.spec import GenerateParams
from trainer.workers.eval import EvalWorker

COMPARE_PARAMS = GenerateParams(max_tokens=48, temperature=0.0, seed=0)


@dataclass(frozen=True)
class Side:
    """One model's part: its eval loss (or why there is none) and its answer."""

    model: ModelRow
    eval_loss: float | None
    examples: int
    answer: str | None
    problem: str | None = None


@dataclass(frozen=True)
class Comparison:
    """The two sides, the dataset they were measured on and the prompt they answered."""

    dataset: DatasetRow
    prompt: str | None
    sides: tuple[Side, Side]


async def compare_models(
    services: Services,
    first: str,
    second: str,
    *,
    dataset: str | None,
    prompt: str | None,
    requested_by: str,
) -> Comparison:
    """Measure and ask both models; a model that cannot be measured says why on its side."""
    models = (await services.models.resolve(first), await services.models.resolve(second))
    data = await _dataset(services, models[0], dataset)
    worker = EvalWorker()
    try:
        sides = [await _side(services, worker, m, data, prompt, requested_by) for m in models]
    finally:
        worker.stop()
    return Comparison(data, prompt, (sides[0], sides[1]))


async def _dataset(services: Services, model: ModelRow, ref: str | None) -> DatasetRow:
    if ref:
        return await services.datasets.resolve(ref)
    if not model.dataset_id:
        raise Invalid(f"{model.label} names no training dataset; give one with dataset=")
    return await services.datasets.resolve(model.dataset_id)


async def _side(
    services: Services,
    worker: EvalWorker,
    model: ModelRow,
    data: DatasetRow,
    prompt: str | None,
    requested_by: str,
) -> Side:
    loss, examples, problem = None, 0, None
    if model.backend != "local" or not model.path:
        problem = "a remote model: no eval loss here"
    else:
        try:
            measured = await worker.measure(model, data, None)
            loss, examples = measured.loss, measured.examples
        except RuntimeError as exc:
            problem = f"eval failed: {exc}"
    answer = None
    if prompt:
        generated = await services.generation.generate(
            prompt, model=model.id, params=COMPARE_PARAMS, requested_by=requested_by
        )
        answer = generated.text
    return Side(model, loss, examples, answer, problem)
