"""Property-based tests of the real gateway against its own OpenAPI document.

Schemathesis loads /openapi.json from the running gateway (the session's `gateway`
fixture, so the URL is only known at fixture time), generates valid and invalid
requests for every operation, sends them with a genuine bearer token and checks that
nothing answers 5xx and that every status code, content type, header and body is one
the document declares, and that invalid input is refused.

`schemathesis.pytest.from_fixture` would be the natural loader, but with pytest 9 it
fails (it sets `request.node._nodeid`, which pytest 9 no longer has), so each
operation is driven here with its schemathesis strategy under plain hypothesis. The
operations are listed at collection time from the document the gateway's own code
generates (no server needed), and each test then looks its operation up in the
document the running gateway serves."""

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.gateway.app import create_app
from services.settings import Settings
from tests.support.http_client import bearer as bearer_header
from tests.support.http_client import sign_up_sync

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
SETTINGS = hypothesis.settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],  # no shrinking: report the first failure
)


def _operations() -> list[tuple[str, str, bool]]:
    """(method, path, takes input) of every operation; building the app opens no connection."""
    document = create_app(Settings()).openapi()
    return [
        (method.upper(), path, bool(operation.get("parameters") or operation.get("requestBody") or operation.get("security")))
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


OPERATIONS = _operations()
# (operation, mode) pairs: an operation that takes no input has no invalid case
CASES = [
    (method, path, mode)
    for method, path, takes_input in OPERATIONS
    for mode in MODES
    if takes_input or mode is not schemathesis.GenerationMode.NEGATIVE
]


@pytest.fixture(scope="module")
def bearer(gateway) -> dict[str, str]:
    _, token = sign_up_sync(gateway, "HOST")
    return bearer_header(token)


@pytest.fixture(scope="module")
def live_schema(gateway):
    schema = schemathesis.openapi.from_url(f"{gateway}/openapi.json", wait_for_schema=30)
    schema.config.update(base_url=gateway, request_timeout=30)
    return schema


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {mode}" for m, p, mode in CASES])
def test_operation_conforms_to_the_openapi_document(live_schema, bearer, gateway, method, path, mode):
    operation = live_schema[path][method]

    @SETTINGS
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        response = case.call(base_url=gateway, headers=bearer)
        case.validate_response(response, checks=CHECKS, headers=bearer)

    check()


def test_the_live_document_lists_every_operation(live_schema, gateway):
    served = httpx.get(f"{gateway}/openapi.json").json()
    assert [(m.upper(), p) for p, ms in served["paths"].items() for m in ms] == [(m, p) for m, p, _ in OPERATIONS]


def test_the_document_describes_bearer_authentication(gateway):
    document = httpx.get(f"{gateway}/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert any(s.get("type") == "http" and s.get("scheme", "").lower() == "bearer" for s in schemes.values())
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            public = path in ("/users", "/health")
            assert bool(operation.get("security")) != public, (method, path)
