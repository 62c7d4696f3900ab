"""Hyperparameters typed in chat or sent as JSON are checked with readable errors."""

import pytest

from bot.core.errors import Invalid
from bot.core.jobs.hyperparameters import parse_hyperparameters


def test_strings_from_chat_are_converted_and_aliases_accepted() -> None:
    hp = parse_hyperparameters({"epochs": "2", "lr": "1e-3", "batch_size": "4", "steps": 50})
    assert (2.0, 0.001, 4, 50) == (hp.epochs, hp.learning_rate, hp.batch_size, hp.max_steps)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"epoch": 1}, "unknown hyperparameter 'epoch' (known: epochs, max_steps"),
        ({"batch_size": "four"}, "batch_size must be an integer, got 'four'"),
        ({"batch_size": 2.5}, "batch_size must be an integer, got 2.5"),
        ({"learning_rate": 3}, "learning_rate must be between 1e-08 and 1.0, got 3.0"),
        ({"epochs": True}, "epochs must be a number, got True"),
    ],
)
def test_bad_values_are_refused(raw: dict[str, object], message: str) -> None:
    with pytest.raises(Invalid) as info:
        parse_hyperparameters(raw)
    assert info.value.message.startswith(message)


def test_all_problems_are_listed_at_once() -> None:
    with pytest.raises(Invalid) as info:
        parse_hyperparameters({"epochs": "x", "seed": -1})
    assert 2 == len(info.value.details)
