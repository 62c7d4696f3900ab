"""Logging: console and JSON output, and secrets never appear in it."""

import io
import json
import logging

import structlog

from bot.logs import REDACTED, configure_logging, get_logger


def test_json_lines_with_bound_context() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    get_logger("test").bind(job_id="abc123").info("job started", steps=10)
    record = json.loads(out.getvalue().strip().splitlines()[-1])
    assert ("job started", "abc123", 10, "info") == (
        record["event"],
        record["job_id"],
        record["steps"],
        record["level"],
    )


def test_secrets_are_redacted_everywhere() -> None:
    out = io.StringIO()
    secret = "syt_very-secret-token-42"
    configure_logging("DEBUG", "console", secrets=[secret], stream=out)
    log = get_logger("test")
    log.info(f"token is {secret}", headers={"Authorization": f"Bearer {secret}"})
    logging.getLogger("aiohttp.client").warning("request with %s", secret)
    try:
        raise RuntimeError(f"failed with {secret}")
    except RuntimeError:
        log.exception("boom")
    text = out.getvalue()
    assert secret not in text
    assert text.count(REDACTED) >= 4


def teardown_module() -> None:
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()
