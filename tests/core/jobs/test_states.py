"""The job state machine and the reasons people get when a request makes no sense."""

import pytest

from bot.core.errors import Conflict
from bot.core.jobs.states import (
    FINAL,
    STATUSES,
    TRANSITIONS,
    Action,
    check_transition,
    refuse_action,
)
from bot.core.types import JobStatus


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
def test_impossible_requests_say_why(status: str, action: Action, message: str) -> None:
    with pytest.raises(Conflict) as info:
        refuse_action(JobStatus(status), action)
    assert message == info.value.message


def test_allowed_requests_pass() -> None:
    refuse_action(JobStatus.RUNNING, "pause")
    refuse_action(JobStatus.PAUSED, "resume")
    refuse_action(JobStatus.FAILED, "delete")
    # A restart puts a running job back in the queue.
    check_transition(JobStatus.RUNNING, JobStatus.QUEUED)


def test_a_finished_job_cannot_restart() -> None:
    with pytest.raises(Conflict, match="a succeeded job cannot become running"):
        check_transition(JobStatus.SUCCEEDED, JobStatus.RUNNING)
