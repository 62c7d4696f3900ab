"""The main process stays light: no module of `bot/` or `storage/` imports torch or
transformers when loaded (only worker processes do)."""

import subprocess
import sys

CODE = """
import importlib, pkgutil, sys
import bot, storage
for package in (bot, storage):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if module.name != "bot.__main__":
            importlib.import_module(module.name)
print(sorted(name for name in ("torch", "transformers", "datasets") if name in sys.modules))
"""


def test_no_main_process_module_imports_torch_or_transformers() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert "[]" == out.stdout.strip()


LIGHT = """
import sys
import bot.app, bot.cli.run, bot.http.server, bot.room.face
print(sorted(name for name in ("openai", "apscheduler") if name in sys.modules))
"""


def test_a_service_without_openai_key_or_schedules_imports_neither_library() -> None:
    # Everything `trainbot run` imports before it reads the settings. The `openai` package
    # (~0.7 s) is imported only by `bot.core.openai.client`, built with a key; apscheduler
    # only when sources or schedules are configured.
    out = subprocess.run([sys.executable, "-c", LIGHT], capture_output=True, text=True, check=True)
    assert "[]" == out.stdout.strip()
