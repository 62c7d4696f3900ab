"""The demo dataset: short bedtime stories built from templates, with their keywords.

Deterministic (a seeded `random.Random`), so every run stores the same dataset and a
re-run of the demo finds it unchanged. Each record is in the `keywords` format
(docs/datasets.md): `{"keywords": ["fox", "forest", "lantern"], "text": "…"}`, and every
keyword appears in its text, so a model trained on it learns to write a story around
the keywords it is given (`!generate keywords=fox,moon Once upon a time`).
"""

from __future__ import annotations

import random
from typing import Any

DATASET_NAME = "demo"
DEFAULT_COUNT = 300
DEFAULT_SEED = 7

ANIMALS = ("fox", "bear", "mouse", "owl", "rabbit", "dragon", "whale", "cat", "duck", "turtle")
PLACES = ("forest", "meadow", "village", "river", "mountain", "garden", "island", "castle")
THINGS = ("lantern", "blanket", "star", "boat", "drum", "moon", "kite", "key", "shell", "cake")
ADJECTIVES = ("little", "sleepy", "brave", "curious", "gentle", "tiny", "old", "shy")

OPENINGS = (
    "Once upon a time, a {adj} {animal} lived near the {place}.",
    "Long ago, in a quiet {place}, there was a {adj} {animal}.",
    "Every evening, a {adj} {animal} walked home through the {place}.",
)
MIDDLES = (
    "One night the {animal} found a {thing} that glowed softly in the dark.",
    "The {animal} wanted a {thing} more than anything in the whole {place}.",
    "When the wind grew cold, the {animal} lost its favourite {thing}.",
    "A friend gave the {animal} a {thing} and asked it to keep it safe.",
)
TURNS = (
    "So the {animal} looked everywhere, under the leaves and behind the stones.",
    "The {animal} asked the moon for help, and the moon smiled.",
    "All the animals of the {place} came to help the {animal}.",
    "The {animal} was afraid at first, but it took a deep breath and tried again.",
)
ENDINGS = (
    "At last the {animal} held the {thing} close and fell fast asleep. The end.",
    "Then the {animal} curled up with the {thing} and dreamed of the {place}. The end.",
    "And the {thing} shone all night while the {animal} slept. Good night.",
)


def demo_records(count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """`count` stories in the `keywords` format; the same `seed` gives the same records."""
    rng = random.Random(seed)
    return [_story(rng) for _ in range(count)]


def _story(rng: random.Random) -> dict[str, Any]:
    slots = {
        "animal": rng.choice(ANIMALS),
        "place": rng.choice(PLACES),
        "thing": rng.choice(THINGS),
        "adj": rng.choice(ADJECTIVES),
    }
    sentences = (rng.choice(part) for part in (OPENINGS, MIDDLES, TURNS, ENDINGS))
    text = " ".join(sentence.format(**slots) for sentence in sentences)
    return {"keywords": [slots["animal"], slots["place"], slots["thing"]], "text": text}
