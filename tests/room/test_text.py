"""Room text: domain errors read with the configured command prefix."""

from bot.core.errors import NotFound
from bot.room.text import error_text


def test_a_domain_error_names_commands_with_the_rooms_prefix() -> None:
    error = NotFound("no job 'abc'; `!jobs` or GET /v1/jobs lists them")

    assert "no job 'abc'; `?jobs` or GET /v1/jobs lists them" == error_text(error.message, "?")
    assert error.message == error_text(error.message, "!")


def test_an_exclamation_mark_outside_a_command_name_is_left_alone() -> None:
    assert "done! see `.status`" == error_text("done! see `!status`", ".")
