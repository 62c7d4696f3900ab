"""When things run: durations (`15m`) and crontab lines, checked at start."""

from __future__ import annotations

import re

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | float) -> float:
    """`90`, `90s`, `15m`, `2h`, `1d` in seconds; a ValueError names the accepted forms."""
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration: use e.g. 90s, 15m, 2h or 1d")
        seconds = float(match[1]) * DURATION_UNITS[match[2] or "s"]
    if seconds <= 0:
        raise ValueError("a duration must be more than 0 seconds")
    return seconds


def check_cron(expression: str) -> str:
    """A five-field crontab expression, checked by apscheduler itself."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expression)
    except ValueError as exc:
        raise ValueError(f"cron {expression!r} is not a crontab expression: {exc}") from None
    return expression
