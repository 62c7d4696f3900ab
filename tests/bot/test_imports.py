"""The main process stays light: no module of `bot/` or `storage/` imports torch or
transformers when loaded (only worker processes do), and what `trainbot run` imports
before it reads the settings loads neither the `openai` package nor apscheduler."""

import json
import subprocess
import sys

import pytest

CODE = """
import importlib, json, pkgutil, sys
# First what `trainbot run` imports before it knows the settings.
import bot.app, bot.cli.run, bot.http.server, bot.room.face
start = sorted(name for name in ("openai", "apscheduler") if name in sys.modules)
import bot, storage
for package in (bot, storage):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if module.name != "bot.__main__":
            importlib.import_module(module.name)
every = sorted(name for name in ("torch", "transformers", "datasets") if name in sys.modules)
print(json.dumps({"start": start, "every": every}))
"""


@pytest.fixture(scope="module")
def imported() -> dict[str, list[str]]:
    """Heavy libraries loaded, in one fresh interpreter: at start, then with every module."""
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    loaded: dict[str, list[str]] = json.loads(out.stdout)
    return loaded


def test_no_main_process_module_imports_torch_or_transformers(
    imported: dict[str, list[str]],
) -> None:
    assert [] == imported["every"]


def test_a_service_without_openai_key_or_schedules_imports_neither_library(
    imported: dict[str, list[str]],
) -> None:
    # The `openai` package (~0.7 s) is imported only by `bot.core.openai.client`, built
    # with an API key; apscheduler only when sources or schedules are configured.
    assert [] == imported["start"]
