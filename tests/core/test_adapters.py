"""Adapter versions: registered as such with their base as lineage; bases kept while used."""

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import Conflict, Invalid
from bot.core.jobs.request import JobRequest
from bot.core.services import Services
from storage.registry import ModelRow
from tests.support.pretrained import build_base
from tests.support.services import FAST, records


def folder(path: Path, *, adapter_of: str | None = None) -> Path:
    """A model folder as a worker leaves it: a full model, or an adapter naming its base."""
    path.mkdir(parents=True)
    if adapter_of is None:
        (path / "config.json").write_text("{}")
        record: dict[str, Any] = {"kind": "full"}
    else:
        config = {"base_model_name_or_path": adapter_of, "r": 8, "lora_alpha": 16}
        config |= {"lora_dropout": 0.05, "target_modules": ["c_fc", "c_attn"]}
        (path / "adapter_config.json").write_text(json.dumps(config))
        record = {"kind": "adapter", "base_path": adapter_of}
    (path / "trainbot.json").write_text(json.dumps(record))
    return path


async def register(services: Services, name: str, path: Path, base: str = "micro") -> ModelRow:
    return await services.models.register_local(
        name=name, job_id="j", dataset_id="d", base=base, output_dir=path, metrics={}
    )


@pytest.fixture
async def chat_on_base(services: Services, tmp_path: Path) -> tuple[ModelRow, ModelRow]:
    """`chat@v1`, an adapter on `base@v1`, which is not the active version of `base`."""
    base = await register(services, "base", folder(tmp_path / "b1"))
    await register(services, "base", folder(tmp_path / "b2"))
    await services.models.activate("base@v2")
    adapter = await register(
        services, "chat", folder(tmp_path / "a1", adapter_of=base.path), base=base.id
    )
    return base, adapter


async def test_a_base_with_adapters_cannot_be_deleted_until_they_are_gone(
    services: Services, tmp_path: Path, chat_on_base: tuple[ModelRow, ModelRow]
) -> None:
    base, adapter = chat_on_base
    assert ("adapter", base.id, base.path) == (adapter.kind, adapter.base, adapter.base_path)
    assert ("full", "") == (base.kind, base.base_path)
    with pytest.raises(Conflict) as refused:
        await services.models.delete("base@v1")
    expected = (
        "base@v1 is the base of adapter chat@v1; delete the adapters first "
        "(or merge them into full models)"
    )
    assert expected == refused.value.message
    assert Path(base.path).is_dir()  # nothing stored was harmed
    await register(services, "chat", folder(tmp_path / "a2"))
    await services.models.activate("chat@v2")
    await services.models.delete("chat@v1")
    assert "base@v1" == (await services.models.delete("base@v1")).label


async def test_a_continued_adapter_has_its_adapter_s_base_as_lineage(
    services: Services, tmp_path: Path, chat_on_base: tuple[ModelRow, ModelRow]
) -> None:
    base, first = chat_on_base
    # A job on base=chat@v1 with method=lora: the worker's folder names the real base.
    more = await register(
        services, "more", folder(tmp_path / "a2", adapter_of=base.path), base=first.id
    )
    assert ("adapter", base.id, base.path, "chat@v1") == (
        more.kind,
        more.base,
        more.base_path,
        more.metrics["continued_from"],
    )
    with pytest.raises(Conflict) as refused:
        await services.models.delete("base@v1")
    expected = (
        "base@v1 is the base of adapter more@v1, chat@v1; delete the adapters first "
        "(or merge them into full models)"
    )
    assert expected == refused.value.message
    # A full model trained from an adapter (merged in memory) keeps the adapter as lineage.
    full = await register(services, "merged", folder(tmp_path / "f"), base=first.id)
    assert ("full", first.id, "") == (full.kind, full.base, full.base_path)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        (
            {"type": "lora", "lora": {"r": 4, "alpha": 16, "targets": "c_attn"}},
            "method=lora on a LoRA adapter continues that adapter with its own settings; "
            "leave out r=4 (the adapter has 8), targets=c_attn (the adapter has c_attn,c_fc), "
            "or merge it first (!merge) to train a new adapter on the merged model",
        ),
        (
            {"type": "lora", "lora": {"quantize": "4bit"}},
            "QLoRA (quantize=4bit) cannot continue a LoRA adapter; leave quantize out to "
            "continue it, or merge it into a full model first (!merge)",
        ),
        (
            {"type": "full"},
            "the base model this LoRA adapter loads onto is gone, so it cannot be trained "
            "further; start from a full model instead",
        ),
    ],
)
async def test_an_adapter_as_base_is_refused_only_for_what_cannot_be_honoured(
    services: Services, tmp_path: Path, method: dict[str, Any], expected: str
) -> None:
    await services.datasets.upload_records("poems", records())
    base = await register(services, "base", folder(tmp_path / "b"))
    gone = "gone" in expected
    adapter_of = str(tmp_path / "nosuchbase") if gone else base.path
    await register(services, "chat", folder(tmp_path / "a", adapter_of=adapter_of), base=base.id)
    request = JobRequest("poems", base="chat", hyperparameters=FAST, method=method)
    with pytest.raises(Invalid) as refused:
        await services.jobs.submit(request, requested_by="@ann:x", room_id=None)
    assert expected == refused.value.message
    assert [] == await services.store.jobs.with_status("queued")


@pytest.mark.parametrize(
    ("base", "method", "expected"),
    [
        (
            None,
            {"type": "lora"},
            "method=lora with a LoRA adapter needs a pretrained base; the preset 'micro' starts "
            "from random weights (name a base= folder or registered model)",
        ),
        (None, {"type": "lora", "lora": {"r": 0}}, "r must be between 1 and 1024, got 0"),
        (
            "full",
            {"type": "dpo"},
            "method=dpo needs a preference dataset (input, preferred_output, "
            "non_preferred_output); this one is text",
        ),
        (
            None,
            {"type": "lora", "lora": {"dropout": 2, "targets": "q proj"}},
            "dropout must be between 0 and 0.9, got 2; targets must be layer names like "
            "q_proj, got q proj",
        ),
        (
            "full",
            {"type": "lora", "lora": {"quantize": "4bit"}},
            "QLoRA (quantize=4bit) needs bitsandbytes and a CUDA GPU (trainer.device is cpu) on "
            "this server; leave quantize out to train a plain LoRA adapter",
        ),
    ],
)
async def test_bad_methods_are_refused_at_submit_and_nothing_is_queued(
    app_factory: Callable[..., Any],
    tmp_path: Path,
    base: str | None,
    method: dict[str, Any],
    expected: str,
) -> None:
    services: Services = (await app_factory(device="cpu")).services
    await services.datasets.upload_records("poems", records())
    if base is not None:
        await register(services, base, folder(tmp_path / base))
    request = JobRequest("poems", base=base, hyperparameters=FAST, method=method)
    with pytest.raises(Invalid) as refused:
        await services.jobs.submit(request, requested_by="@ann:x", room_id=None)
    assert expected == refused.value.message
    assert [] == await services.store.jobs.with_status("queued")


def test_the_openai_backend_refuses_lora_and_dpo_in_words() -> None:
    from bot.core.jobs.hyperparameters import refuse_method

    refuse_method(None, "openai")
    refuse_method({"type": "full"}, "openai")
    with pytest.raises(Invalid) as refused:
        refuse_method({"type": "lora", "lora": {"r": 8}}, "openai")
    expected = (
        "backend=openai fine-tunes the whole model its own way; method=lora (LoRA, DPO) is for "
        "local jobs (backend=local with a pretrained base=)"
    )
    assert expected == refused.value.message


async def test_a_job_that_cannot_fit_in_memory_is_refused_before_it_is_queued(
    app_factory: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # 1 MiB is below what even the tiny pretrained base needs, with LoRA too (about 2 MiB).
    services = (await app_factory(max_memory_gb=1 / 1024)).services
    await services.datasets.upload_records("poems", records())
    pretrained = build_base(tmp_path_factory.getbasetemp(), "gpt2")
    base = await register(services, "base", copy_of(pretrained, tmp_path_factory.mktemp("b") / "m"))
    adapter = folder(tmp_path_factory.mktemp("a") / "a", adapter_of=base.path)
    await register(services, "chat", adapter, base=base.id)
    for start, method, advice in (
        ("base@v1", None, ", or train a LoRA adapter (method=lora), which keeps the base frozen"),
        ("base@v1", {"type": "lora"}, ""),
        ("chat@v1", {"type": "lora"}, ""),  # an adapter version is sized by its base
    ):
        request = JobRequest("poems", base=start, method=method, hyperparameters=FAST)
        with pytest.raises(Invalid) as refused:
            await services.jobs.submit(request, requested_by="@ann:x", room_id=None)
        message = refused.value.message
        assert message.startswith("this job would need about "), message
        assert message.endswith("are available: lower batch_size or block_size" + advice)
    assert [] == await services.jobs.find()  # nothing queued, nothing stored


def copy_of(source: Path, target: Path) -> Path:
    """A model folder the registry may own (the session's base is shared by other tests)."""
    shutil.copytree(source, target)
    (target / "trainbot.json").write_text(json.dumps({"kind": "full"}))
    return target
