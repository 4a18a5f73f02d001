"""The server keeps to its OpenAPI document: schemathesis's full check set over every operation.

Schemathesis reads ``/openapi.json`` and calls the ASGI app in-process (no sockets, so it
is quick), on both shapes, with a signed-in user's token so that authenticated
operations are exercised past the 401. It runs the same engine as ``st run``: each
operation's examples, the coverage phase (boundary and negative values drawn from the
schema), a bounded number of fuzzed cases and the stateful phase (chains of calls
following the links between operations). Every response is held to every check: no
5xx, only documented status codes, content types and headers, bodies matching their
schemas, schema-valid input accepted and schema-invalid input refused, and a 405's
``Allow`` naming every method of the path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema

from lumigram.app import create_app
from lumigram.config import Settings
from lumigram.infra.database import Database
from tests.conftest import _run_async

#: Fuzzed cases per operation (examples and coverage add their own, bounded by the
#: schema): enough to find drift, few enough for both shapes in a couple of minutes.
MAX_EXAMPLES = 10
SEED = 20261124
SCOPES = "read write follow push"
#: Event streams never end by design; tests/api/test_streaming.py covers them.
STREAMING = r"^/api/v1/streaming/(?!health$)"


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await database.migrate()
    finally:
        await database.close()


def _call(schema: Any, path: str, form: dict[str, str], token: str | None = None) -> dict[str, Any]:
    """POST ``form`` through the same in-process transport the run uses."""
    case = schema[path]["POST"].Case(body=form, media_type="application/x-www-form-urlencoded")
    response = case.call(headers={"Authorization": f"Bearer {token}"} if token else None)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _sign_up(schema: Any) -> str:
    app = _call(schema, "/api/v1/apps", {"client_name": "fuzz", "scopes": SCOPES})
    grant = {"grant_type": "client_credentials", "client_id": app["client_id"], "scope": SCOPES}
    app_token = _call(schema, "/oauth/token", {**grant, "client_secret": app["client_secret"]})["access_token"]
    person = {"username": "fuzzer", "email": "fuzz@example.org", "password": "fuzzing password", "agreement": "1"}
    return str(_call(schema, "/api/v1/accounts", person, app_token)["access_token"])


def _describe(event: events.ScenarioFinished) -> dict[str, str]:
    """Each failure of a scenario, with a curl command that reproduces it."""
    found = {}
    for case_id, checks in event.recorder.checks.items():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                failure = check.failure_info.failure
                detail = " / ".join(failure.message.strip().splitlines()[:4])
                interaction = event.recorder.interactions.get(case_id)
                answer = interaction.response if interaction is not None else None
                got = f"{answer.status_code} {answer.content[:300]!r}" if answer is not None else "no response"
                found[f"{event.label} [{check.name}] {failure.title}: {detail}"] = (
                    f"{check.failure_info.code_sample}\n    -> {got}"
                )
    return found


def _run(schema: Any) -> tuple[int, dict[str, str]]:
    """Every phase of a run: the number of cases sent, and each distinct failure."""
    cases = 0
    failures: dict[str, str] = {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            cases += len(event.recorder.cases)
            failures.update(_describe(event))
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures[f"error: {event}"] = ""
    return cases, failures


@pytest.mark.timeout(600)  # about a hundred operations; slow on a loaded 2-core machine
def test_the_server_keeps_to_its_openapi_document(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(post_rate_limit=10_000, follow_rate_limit=10_000)
    _run_async(_migrate(settings.database_url))
    app = create_app(settings)
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    token = _sign_up(loaded)
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "headers": {"Authorization": f"Bearer {token}"},
            "checks": {"enabled": True},
            "generation": {"max-examples": MAX_EXAMPLES},
            "workers": 1,
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config).exclude(path_regex=STREAMING)
    try:
        cases, failures = _run(schema)
    finally:
        schemathesis.python.asgi.shutdown_lifespans()
    report = "\n".join(f"{failure}\n    {sample}" for failure, sample in sorted(failures.items()))
    assert not failures, f"{len(failures)} failures:\n{report}"
    # A run that reached nothing would pass vacuously.
    assert cases > 500, f"only {cases} cases were sent"
