"""The job state machine and the reasons people get when a request makes no sense."""

import pytest

from bot.core.errors import Conflict
from bot.core.jobs.states import FINAL, STATUSES, TRANSITIONS, check_transition, refuse_action


def test_final_states_lead_nowhere() -> None:
    assert set(STATUSES) == set(TRANSITIONS)
    for status in FINAL:
        assert frozenset() == TRANSITIONS[status]


@pytest.mark.parametrize(
    ("status", "action", "message"),
    [
        ("succeeded", "pause", "cannot pause this job: it already succeeded"),
        ("cancelled", "resume", "cannot resume this job: it already was cancelled"),
        ("running", "resume", "cannot resume this job: it is running, not paused"),
        ("paused", "pause", "cannot pause this job: it is paused"),
        ("running", "delete", "cannot delete this job: it is still running; cancel it first"),
    ],
)
def test_impossible_requests_say_why(status: str, action: str, message: str) -> None:
    with pytest.raises(Conflict) as info:
        refuse_action(status, action)
    assert message == info.value.message


def test_allowed_requests_pass() -> None:
    refuse_action("running", "pause")
    refuse_action("paused", "resume")
    refuse_action("failed", "delete")
    check_transition("running", "queued")  # a restart puts a running job back in the queue


def test_a_finished_job_cannot_restart() -> None:
    with pytest.raises(Conflict, match="a succeeded job cannot become running"):
        check_transition("succeeded", "running")
