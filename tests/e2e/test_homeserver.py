"""The throwaway Synapse works: people register, meet in a room and talk."""

from __future__ import annotations

from .conftest import E2E, MakePerson
from .helpers import body_is, make_room

pytestmark = E2E


async def test_invited_user_joins_and_receives_message(make_person: MakePerson) -> None:
    alice = await make_person("alice")
    bob = await make_person("bob")
    room_id = await make_room(alice, bob, name="tea")

    await alice.say(room_id, "hello bob")

    event = await bob.wait_for(room_id, body_is("hello bob"))
    assert alice.user_id == event["sender"]
    assert {alice.user_id, bob.user_id} == set(bob.client.rooms[room_id].users)
