"""Whether the bot encrypts, from `matrix.e2ee` and whether the crypto library is there."""

from __future__ import annotations

import pytest

from bot.matrix.crypto import E2eeUnavailableError, e2ee_enabled
from bot.settings.matrix import MatrixSettings


def test_auto_follows_the_e2e_extra() -> None:
    assert (True, False) == (
        e2ee_enabled("auto", available=True),
        e2ee_enabled("auto", available=False),
    )


def test_true_without_the_extra_is_refused_with_what_to_do() -> None:
    with pytest.raises(E2eeUnavailableError, match=r"pip install 'trainbot\[e2e\]'"):
        e2ee_enabled(True, available=False)


def test_false_never_encrypts_and_true_does_when_it_can() -> None:
    assert (False, True) == (
        e2ee_enabled(False, available=True),
        e2ee_enabled(True, available=True),
    )


def test_the_setting_defaults_to_auto_and_refuses_other_words() -> None:
    assert ("auto", "auto") == (MatrixSettings().e2ee, MatrixSettings().cross_signing)
    with pytest.raises(ValueError, match="e2ee"):
        MatrixSettings(e2ee="sometimes")  # type: ignore[arg-type]
