"""A backend that exists by name but lacks its configuration: it refuses with the reason."""

from __future__ import annotations

from bot.core.errors import Invalid
from bot.core.jobs.request import JobRequest
from bot.core.jobs.states import Control
from storage.jobs import JobRow

NO_OPENAI = "backend=openai needs the [openai] section configured (api_key or api_key_file)"


class Unconfigured:
    """Stands in for a backend whose settings are missing (`openai` without an API key)."""

    def __init__(self, name: str, reason: str) -> None:
        self._name = name
        self.reason = reason

    @property
    def name(self) -> str:
        """The backend it stands in for."""
        return self._name

    @property
    def queues(self) -> bool:
        """Nothing of it waits in the queue."""
        return False

    @property
    def ready(self) -> bool:
        """Nothing to drive, so nothing to wait for."""
        return True

    async def recover(self) -> None:
        """Its jobs wait until it is configured."""

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def submit(
        self, request: JobRequest, *, requested_by: str, room_id: str | None
    ) -> JobRow:
        """Refuse: the request asks for what this server lacks (a 4xx, not a 5xx)."""
        raise Invalid(self.reason)

    async def control(self, job: JobRow, action: Control) -> JobRow:
        """Refuse, as a request would be."""
        raise Invalid(self.reason)
