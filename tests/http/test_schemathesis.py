"""Property-based API tests: generated requests against the live server must never get a
5xx, and every answer must match the published OpenAPI document.

The server runs in its own thread and event loop (schemathesis makes blocking requests),
over a fresh data dir, so nothing else is disturbed.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.http.support import TOKEN, http_settings
from tests.support.server_thread import ServerThread

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Every operation, both modes, 5 cases each. No operation stands out (its time is spread
# evenly over the ~110 operation-modes): generating a case and sending it is the cost,
# so the cases per operation are the test's time (20 each: ~2100 requests, 35 s in CI).
EXAMPLES_PER_MODE = 5
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# OpenAI's API ignores query and body names it does not know (clients send newer ones),
# so /openai/v1 does too: there, a request with an unknown name is not invalid. Bad values
# of known names are still refused (tests/openai_api checks them).
OPENAI_CHECKS = [check for check in CHECKS if check is not negative_data_rejection]


def _unsendable(value: object) -> bool:
    if isinstance(value, list):  # sent as the name repeated: none when the list is empty
        return not value or any(_unsendable(v) for v in value)
    return value is None or isinstance(value, dict)


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ServerThread(http_settings(tmp_path_factory.mktemp("schemathesis") / "data")) as server:
        yield server.url


def test_generated_requests_get_no_5xx_and_conform_to_the_schema(live_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{live_url}/openapi.json", headers=AUTH)
    session = requests.Session()  # one keep-alive connection, not one per case
    cases = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            # derandomize: CI runs the same cases every time (a red build means a real
            # regression); explore new seeds by hand with derandomize=False.
            @settings(
                max_examples=EXAMPLES_PER_MODE,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                nonlocal cases
                # A query value that is an object or null never reaches the server
                # (requests drops it), so "invalid data accepted" would be about the
                # transport, not the API.
                assume(not any(_unsendable(v) for v in (case.query or {}).values()))
                cases += 1
                openai = case.operation.path.startswith("/openai/")
                checks = OPENAI_CHECKS if openai else CHECKS
                case.call_and_validate(session=session, headers=AUTH, checks=checks, timeout=30)

            try:
                run()
            except Unsatisfiable:
                continue  # nothing to make invalid: no parameters and no body
            except Exception as exc:  # collect all operations' failures, then report
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    print(f"{cases} generated requests")  # shown with -s; the suite's log says how many ran
    assert not failures, "\n\n".join(failures)
    assert cases >= 300
