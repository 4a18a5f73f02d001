"""The server keeps to its OpenAPI document: schemathesis's full check set over every operation.

Schemathesis reads ``/openapi.json`` and calls the ASGI app in-process (no sockets, so it
is quick), on both shapes, with a signed-in user's token so that authenticated
operations are exercised past the 401. It runs the same engine as ``st run``: each
operation's examples, the coverage phase (boundary and negative values drawn from the
schema; embedded shape only), a bounded number of fuzzed cases (scaled shape only) and
the stateful phase (chains of calls following the links between operations). Every response is held to every check: no
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
from schemathesis.core.failures import AcceptedNegativeData, Failure
from schemathesis.core.mutations import OperatorKind
from schemathesis.core.parameters import ParameterLocation
from schemathesis.engine import Status, events, from_schema

from lumigram.app import create_app
from lumigram.config import Settings
from lumigram.infra.database import Database
from tests.conftest import _run_async

#: Fuzzed cases per operation in the scaled shape (examples add their own, bounded by the
#: schema): enough to find drift across some two hundred operations, few enough to run in
#: a minute. The embedded shape runs the coverage phase (every declared edge) instead.
MAX_EXAMPLES = 3
SEED = 20261124
SCOPES = "read write follow push"
#: Event streams never end by design; tests/api/test_streaming.py covers them.
STREAMING = r"^/api/v1/streaming/(?!health$)"


#: Operations whose answer to schema-valid input may still be a refusal, because the rule
#: depends on stored state or on content no JSON Schema can describe. For these alone,
#: positive_data_acceptance also accepts the status named; every other check still runs.
SEMANTIC_REFUSALS: dict[tuple[str, str], tuple[int, str]] = {
    ("POST", "/api/v1/accounts"): (422, "usernames and addresses already taken; password and name rules"),
    ("PATCH", "/api/v1/accounts/update_credentials"): (422, "avatar and header must decode as images"),
    ("POST", "/api/v1/accounts/{account_id}/follow"): (422, "the id may be the caller's own"),
    ("POST", "/api/v1/accounts/{account_id}/block"): (422, "the id may be the caller's own"),
    ("POST", "/api/v1/accounts/{account_id}/mute"): (422, "the id may be the caller's own"),
    ("POST", "/api/v1/accounts/phone/verify"): (422, "the code must be the one that was sent"),
    ("POST", "/api/v1/emails/confirmations"): (422, "the address must pass the sign-up address rules"),
    ("POST", "/api/v1/apps"): (422, "redirect URIs, scopes and website must be usable"),
    ("POST", "/api/v1/statuses"): (422, "media must be the caller's and ready; text alone only in replies"),
    ("GET", "/api/v1/lumigram/reels"): (422, "the cursor must be one a previous page gave"),
    ("PUT", "/api/v1/statuses/{status_id}"): (422, "media must be the caller's; the language must be a known code"),
    ("POST", "/api/v1/media"): (422, "the file must decode as a photo or video; focus within -1..1"),
    ("POST", "/api/v2/media"): (422, "the file must decode as a photo or video; focus within -1..1"),
    ("PUT", "/api/v1/media/{media_id}"): (422, "focus within -1..1; looks only before the photo is posted"),
    ("POST", "/api/v1/push/subscription"): (422, "the endpoint must be a public https URL, the keys real ones"),
    ("PUT", "/api/v1/push/subscription"): (422, "alert names and policy must be known ones"),
    ("POST", "/api/v1/lumigram/stories"): (422, "the media must be ready; at most 100 live stories"),
    ("POST", "/api/v1/lumigram/stories/{story_id}/reply"): (422, "replies may be off; not to one's own story"),
    ("POST", "/api/v1/lumigram/stories/{story_id}/react"): (422, "an emoji, not letters; reactions may be off"),
    ("POST", "/api/v1/lumigram/highlights"): (422, "the stories must be in the archive, the cover one of them"),
    ("PATCH", "/api/v1/lumigram/highlights/{highlight_id}"): (422, "the stories must be in the caller's archive"),
    ("POST", "/api/v1/lumigram/highlights/{highlight_id}/stories"): (422, "the story must be in the caller's archive"),
    ("POST", "/api/v1/lumigram/close_friends"): (422, "only an account that follows the caller can be added"),
    ("POST", "/api/v1.1/stories/add"): (422, "the file must decode as a photo or video"),
    ("POST", "/api/v1.1/stories/publish"): (422, "the media must have finished processing"),
    ("POST", "/api/v1.1/stories/comment"): (422, "replies may be off; not to one's own story"),
    ("DELETE", "/api/v1/domain_blocks"): (422, "the domain comes in the query or in the body: one is needed"),
    ("POST", "/api/v1/featured_tags"): (422, "a hashtag's rules; at most 10 featured, each once"),
    ("POST", "/api/v1/accounts/{account_id}/pin"): (422, "only an account the caller follows can be endorsed"),
    ("PUT", "/api/v1/scheduled_statuses/{scheduled_id}"): (422, "the time must be at least 5 minutes ahead"),
    ("POST", "/api/v1/lumigram/threads"): (422, "account_ids must name someone other than the caller"),
    ("POST", "/api/v1/lumigram/threads/{thread_id}/members"): (422, "account_ids are needed; only groups grow"),
    ("POST", "/api/v1/lumigram/threads/{thread_id}/messages"): (422, "something to send; media the caller's own"),
    ("PUT", "/api/v1/lumigram/threads/{thread_id}/messages/{message_id}"): (422, "text not blank; within 15 minutes"),
    ("POST", "/api/v1/lists/{list_id}/accounts"): (422, "only accounts the caller follows can be added"),
    ("DELETE", "/api/v1/lists/{list_id}/accounts"): (422, "only accounts in the list can be taken out"),
    ("POST", "/api/v1/lists"): (422, "at most 100 lists per account"),
    ("POST", "/api/v2/filters"): (422, "a new keyword needs its text; at most 100 filters per account"),
    ("POST", "/api/v1/filters"): (422, "at most 100 filters per account"),
    ("POST", "/api/v2/filters/{filter_id}/keywords"): (422, "at most 100 keywords per filter"),
    ("PUT", "/api/v2/filters/{filter_id}"): (422, "a new keyword needs its text; a keyword id must be the filter's"),
    ("POST", "/oauth/token"): (400, "RFC 6749: unknown or used codes and bad grants are 400s"),
    ("POST", "/oauth/revoke"): (400, "RFC 6749 / 7009: a malformed revocation is a 400"),
}
POSITIVE_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def _operation_settings() -> list[dict[str, Any]]:
    return [
        {
            "include-name": f"{method} {path}",
            "checks": {"positive_data_acceptance": {"expected-statuses": [*POSITIVE_ACCEPTED, str(status)]}},
        }
        for (method, path), (status, _why) in SEMANTIC_REFUSALS.items()
    ]


FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _only_retyped_form_fields(case: Any) -> bool:
    """Whether a negative case differs from a valid one only by the JSON type of form fields.

    A form carries every value as text, so ``description=12`` is as good a description as
    any: the mutation vanishes on the wire. Schemathesis makes this allowance for query
    and path parameters but not (yet) for form bodies.
    """
    data = case.meta.phase.data if case.meta is not None else None
    mutations = getattr(data, "mutations", ())
    return (
        case.media_type in FORMS
        and bool(mutations)
        and all(
            mutation.operator == OperatorKind.CHANGE_TYPE and mutation.parameter_location == ParameterLocation.BODY
            for mutation in mutations
        )
    )


def filter_failure(_context: Any, failure: Failure, case: Any, _response: Any) -> bool:
    """Keep every failure but those the wire cannot show (see above)."""
    return not (isinstance(failure, AcceptedNegativeData) and _only_retyped_form_fields(case))


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
def test_the_server_keeps_to_its_openapi_document(
    make_settings: Callable[..., Settings], shape: str, cheap_password_hashing: None
) -> None:
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
            "operations": _operation_settings(),
            # The coverage phase (every declared boundary and negative value of every
            # parameter, and every undeclared method) holds the API layer to its document,
            # which is the same code on both shapes: the embedded shape runs it (76 s). The
            # fuzzed cases (27 s, most of it building each operation's generators) carry
            # random values down to storage, where the shapes differ: the scaled shape
            # runs them, against PostgreSQL, which refuses more than SQLite does. Both
            # get the examples and the stateful chains.
            "phases": {"coverage": {"enabled": shape == "embedded"}, "fuzzing": {"enabled": shape == "scaled"}},
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config).exclude(path_regex=STREAMING)
    schema.hook(filter_failure)
    try:
        cases, failures = _run(schema)
    finally:
        # The app's services live in schemathesis's event loop: close them while this
        # test's database and servers are still there.
        schemathesis.python.asgi.shutdown_lifespans()
    report = "\n".join(f"{failure}\n    {sample}" for failure, sample in sorted(failures.items()))
    assert not failures, f"{len(failures)} failures:\n{report}"
    # A run that reached nothing would pass vacuously.
    assert cases > 500, f"only {cases} cases were sent"
