"""Room membership policy: whose invites the bot accepts, and when it leaves."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from nio import AsyncClient, InviteMemberEvent, JoinResponse, SyncResponse

from bot.logs import get_logger

log = get_logger(__name__)


def is_allowed(user_id: str, globs: Sequence[str]) -> bool:
    """Whether `user_id` matches one of the MXID globs, e.g. `@*:example.org`."""
    return any(fnmatchcase(user_id, glob) for glob in globs)


class RoomMembership:
    """Accepts invites from allowed users, rejects the rest, leaves rooms left empty."""

    def __init__(
        self, client: AsyncClient, allowed_users: Sequence[str], leave_when_alone: bool
    ) -> None:
        self._client = client
        self._allowed_users = allowed_users
        self._leave_when_alone = leave_when_alone
        # An invite stays in every sync until answered; answer each one once.
        self._answered: set[str] = set()

    async def answer_invites(self, response: SyncResponse) -> list[str]:
        """Join or reject each new invite; return the rooms joined."""
        joined = []
        for room_id, info in response.rooms.invite.items():
            if room_id in self._answered:
                continue
            self._answered.add(room_id)
            inviter = next(
                (
                    event.sender
                    for event in info.invite_state
                    if isinstance(event, InviteMemberEvent)
                    and event.state_key == self._client.user_id
                    and event.membership == "invite"
                ),
                None,
            )
            if inviter is not None and is_allowed(inviter, self._allowed_users):
                result = await self._client.join(room_id)
                if not isinstance(result, JoinResponse):
                    self._answered.discard(room_id)  # try again on the next sync
                    log.warning("matrix_join_failed", room_id=room_id, error=result.message)
                    continue
                joined.append(room_id)
                log.info("matrix_invite_accepted", room_id=room_id, inviter=inviter)
            else:
                # Leaving an invited room is how a client rejects the invite.
                await self._client.room_leave(room_id)
                log.info("matrix_invite_rejected", room_id=room_id, inviter=inviter)
        return joined

    async def leave_if_alone(self, room_ids: Iterable[str]) -> None:
        """Leave (and forget) the rooms among `room_ids` where only the bot is left."""
        if not self._leave_when_alone:
            return
        for room_id in room_ids:
            room = self._client.rooms.get(room_id)
            if room is not None and room.joined_count <= 1 and room.invited_count == 0:
                await self._client.room_leave(room_id)
                await self._client.room_forget(room_id)
                log.info("matrix_left_empty_room", room_id=room_id)
