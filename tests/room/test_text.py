"""Room text: domain errors read with the configured prefix and point at chat commands."""

from bot.core.errors import NotFound
from bot.room.text import code_spans, error_text


def test_a_domain_error_names_commands_with_the_rooms_prefix_and_no_http_route() -> None:
    error = NotFound("no job 'abc'; `!jobs` or GET /v1/jobs lists them")

    assert "no job 'abc'; `?jobs` lists them" == error_text(error.message, "?")
    assert "no job 'abc'; `!jobs` lists them" == error_text(error.message, "!")


def test_a_route_that_is_the_only_pointer_is_left_out_with_its_clause() -> None:
    assert "no task 'x'" == error_text("no task 'x'; GET /v1/tasks lists them", "!")


def test_an_exclamation_mark_outside_a_command_name_is_left_alone() -> None:
    assert "done! see `.status`" == error_text("done! see `!status`", ".")


def test_code_spans_are_code_in_the_html_and_the_rest_is_escaped() -> None:
    shown = code_spans("Send `!optimize a<b> confirm` to run it & see.")

    assert "Send `!optimize a<b> confirm` to run it & see." == shown.plain
    assert "Send <code>!optimize a&lt;b&gt; confirm</code> to run it &amp; see." == shown.html
