"""Short random ids that are easy to read aloud and type in a chat."""

from __future__ import annotations

import secrets

# No 0/o, 1/l/i: ids get typed by people.
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"


def new_id(length: int = 8) -> str:
    """A random id such as `k7qm2xfa`."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))
