"""Room text: domain errors read with the configured prefix and point at chat commands."""

from dataclasses import replace

from bot.core.errors import NotFound
from bot.core.types import JobStatus
from bot.room.text import code_spans, error_text, job_final_text, queued_text
from storage.jobs import JobRow


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


def _job(**changes: object) -> JobRow:
    job = JobRow(
        id="j1",
        name="tales",
        status=JobStatus.SUCCEEDED,
        backend="local",
        dataset_id="d1",
        base="micro",
        spec={},
        requested_by="@cleo:example.org",
        room_id="!r",
        result={"model": "tales@v2", "model_id": "m2"},
        error=None,
        model_id="m2",
        created_at=0.0,
        started_at=0.0,
        finished_at=1.0,
        updated_at=1.0,
        remote_id=None,
    )
    return replace(job, **changes)  # type: ignore[arg-type]


def test_the_acknowledgement_says_when_its_estimate_is_a_first_guess() -> None:
    announced = {"position": 2, "estimate_s": 75.0, "dataset": "tales@v1"}

    measured = queued_text(_job(), announced | {"estimate_measured": True}, "!")
    guessed = queued_text(_job(), announced | {"estimate_measured": False}, "!")

    assert measured == (
        "Queued job j1: tales from dataset tales@v1 on micro, 1 ahead in the queue; "
        "estimated 1m15s. Progress will appear here; !cancel j1 stops it."
    )
    assert "estimated 1m15s (a first guess: no run of this base was measured here yet)." in guessed


def test_a_success_says_which_version_is_active_and_how_to_switch() -> None:
    still_v1 = job_final_text(_job(), "!", active="tales@v1")
    now_v2 = job_final_text(_job(), "!", active="tales@v2")

    assert still_v1.startswith("✅ Job j1 succeeded: model tales@v2 is ready. ")
    assert "Model tales@v1 is still the active version; !activate tales@v2 switches to it." in (
        still_v1
    )
    assert "It is the active version now." in now_v2


def test_a_preference_tuned_success_names_its_reward_margin_and_accuracy() -> None:
    result = {
        "model": "tales@v2",
        "model_id": "m2",
        "eval_loss": 0.61,
        "reward_margin": 0.42,
        "initial_reward_margin": 0.0,
        "reward_accuracy": 0.75,
    }

    shown = job_final_text(_job(result=result), "!", active="tales@v2")

    assert (
        "✅ Job j1 succeeded: model tales@v2 is ready. eval loss 0.610, "
        "reward margin 0.000 → 0.420 (accuracy 75%). It is the active version now."
    ) in shown
