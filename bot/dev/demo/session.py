"""`DemoSession`: a homeserver, the bot and the demo user's view of one room, up and down."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bot.app import App
from bot.core.services import Services
from bot.dev.demo.data import DATASET_NAME, demo_records
from bot.dev.demo.room import ensure_room, ensure_user, log_in, wait_until_member
from bot.dev.demo.state import DemoState
from bot.dev.demo.view import RoomView, Write
from bot.dev.homeserver import SynapseServer
from bot.logs import configure_logging
from bot.settings import Settings
from trainer.data import read_records
from trainer.workers.process import send_worker_output_to

BOT_LOCALPART = "trainbot"
DEMO_LOCALPART = "demo"


@dataclass(frozen=True)
class DemoOptions:
    """What `trainbot demo` was asked for."""

    work_dir: Path
    base: str = "tiny"
    http: bool = True
    progress_interval_s: float = 2.0
    join_timeout_s: float = 60.0


class DemoSession:
    """Starts Synapse, the accounts, the bot and the room; `stop()` undoes it in reverse.

    The work dir keeps everything (`synapse/`, `data/`, `demo.json`, `trainbot.log`), so
    a second run logs the same users in, finds the same room and the trained models.
    """

    def __init__(self, options: DemoOptions, write: Write = print) -> None:
        self.options = options
        self.write = write
        self.state = DemoState.load_or_create(options.work_dir)
        self.synapse = SynapseServer(options.work_dir / "synapse")
        self.app: App | None = None
        self.view: RoomView | None = None
        self.bot_id = self.demo_id = ""
        self._log_file: IO[str] | None = None

    async def start(self) -> RoomView:
        """Bring everything up; return the demo user's view of the room."""
        self.write(f"Starting a local Synapse in {self.options.work_dir / 'synapse'} …")
        await self.synapse.start()
        self.bot_id = await ensure_user(self.synapse, BOT_LOCALPART, self.state.bot_password)
        self.demo_id = await ensure_user(self.synapse, DEMO_LOCALPART, self.state.demo_password)
        self.write(f"Starting Trainbot as {self.bot_id} (base model {self.options.base}) …")
        await self._start_app()
        assert self.app is not None
        await store_demo_dataset(self.app.services, self.write)
        client = await log_in(
            self.synapse.base_url,
            self.demo_id,
            self.state.demo_password,
            self.options.work_dir / "terminal",
        )
        try:
            room_id = await ensure_room(client, self.synapse.server_name, self.bot_id)
        except BaseException:
            await client.close()
            raise
        self.view = RoomView(client, room_id, self.write)
        await self.view.start()
        await wait_until_member(client, room_id, self.bot_id, self.options.join_timeout_s)
        await self.view.knows_member(self.bot_id, self.options.join_timeout_s)
        self.state.save(self.options.work_dir, **self.details())
        return self.view

    def details(self) -> dict[str, str | None]:
        """Where the running demo is, as `demo.json` keeps it."""
        assert self.view is not None and self.app is not None
        return {
            "homeserver": self.synapse.base_url,
            "server_name": self.synapse.server_name,
            "room_id": self.view.room_id,
            "bot_user_id": self.bot_id,
            "demo_user_id": self.demo_id,
            "http_url": self.app.http.url if self.app.http is not None else None,
        }

    async def stop(self) -> None:
        """Stop the view, the bot (pausing a running job) and Synapse; idempotent."""
        if self.view is not None:
            await self.view.stop()
            await self.view.client.close()
            self.view = None
        if self.app is not None:
            await self.app.stop()
            self.app = None
        await self.synapse.stop()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def banner(self) -> str:
        """How to reach the demo from elsewhere: homeserver, room, login, HTTP API."""
        assert self.view is not None and self.app is not None
        lines = [
            f"Homeserver:  {self.synapse.base_url}  (server name {self.synapse.server_name})",
            f"Room:        {self.view.room_id}  (#trainbot-demo:{self.synapse.server_name}"
            f"{self._encryption()})",
            f"Demo login:  user {self.demo_id}  password {self.state.demo_password}",
            f"Bot:         {self.bot_id}; logs in {self.options.work_dir / 'trainbot.log'}",
        ]
        if self.app.http is not None:
            lines.append(f"HTTP API:    {self.app.http.url}  (Bearer {self.state.http_token})")
        return "\n".join(lines)

    def _encryption(self) -> str:
        assert self.view is not None
        room = self.view.client.rooms.get(self.view.room_id)
        return ", end-to-end encrypted" if room is not None and room.encrypted else ""

    async def _start_app(self) -> None:
        settings = demo_settings(
            self.options, self.synapse.base_url, self.bot_id, self.demo_id, self.state
        )
        # The bot logs to a file: the terminal belongs to the room transcript. Workers
        # (forked later) write there too, and never ask the hub for anything.
        log_path = self.options.work_dir / "trainbot.log"
        self._log_file = log_path.open("a", encoding="utf-8")
        configure_logging("INFO", "console", settings.secret_values(), self._log_file)
        send_worker_output_to(log_path)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.app = App(settings)
        await self.app.start()
        assert self.app.matrix is not None  # the demo always runs the Matrix face
        connection = self.app.matrix.connection
        if connection.sync_count == 0:
            # Its first sync is only a starting point; commands sent before it are history.
            await asyncio.wait_for(connection.wait_for_sync(1), self.options.join_timeout_s)


def demo_settings(
    options: DemoOptions, homeserver: str, bot_id: str, demo_id: str, state: DemoState
) -> Settings:
    """Settings of the demo bot: only the demo user may command it; data in the work dir."""
    data_dir = options.work_dir / "data"
    raw: dict[str, Any] = {
        "matrix": {
            "homeserver": homeserver,
            "user_id": bot_id,
            "password": state.bot_password,
            "store_dir": str(data_dir / "matrix"),
            "allowed_users": [demo_id],
            "admin_users": [demo_id],
            "progress_interval_s": options.progress_interval_s,
        },
        "http": {
            "enabled": options.http,
            "host": "127.0.0.1",
            "port": 0,
            "tokens": [state.http_token],
        },
        "storage": {"data_dir": str(data_dir)},
        "trainer": {"default_base": options.base},
        "scheduler": {"enabled": False},
    }
    return Settings(**raw)


async def store_demo_dataset(services: Services, write: Write) -> None:
    """Store the generated stories as `demo`, unless its newest version already holds them."""
    records = demo_records()
    latest = await services.datasets.versions(DATASET_NAME)
    if latest and latest[0].sha256 == read_records(records).sha256:
        write(f"Dataset {latest[0].label}: {latest[0].examples} stories (kept from last run).")
        return
    upload = await services.datasets.upload_records(
        DATASET_NAME, records, format="keywords", created_by="trainbot demo"
    )
    write(f"Dataset {upload.dataset.label}: {upload.dataset.examples} generated stories.")
