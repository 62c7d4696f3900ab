"""[storage]: where the database and artifacts live."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from bot.settings.section import Section


class StorageSettings(Section):
    """[storage]: where the database and artifacts live."""

    data_dir: Path = Field(
        Path("data"), description="Database, datasets, models and checkpoints are kept here."
    )
