"""Small helpers for talking to the real gateway over HTTP."""

import re
import uuid
from collections import Counter
from datetime import timedelta

import httpx

PROBLEM = "application/problem+json"


def new_email() -> str:
    return f"{uuid.uuid4().hex[:16]}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_up_body(role: str = "USER", email: str | None = None, name: str = "Ada") -> dict:
    return {"name": name, "email": email or new_email(), "role": role}


async def sign_up(http: httpx.AsyncClient, role: str = "USER", **kw) -> tuple[str, str]:
    """A new user of `role`: (userId, bearer token)."""
    response = await http.post("/users", json=sign_up_body(role, **kw))
    assert response.status_code == 201, response.text
    body = response.json()
    return body["user"]["userId"], body["token"]


def sign_up_sync(base_url: str, role: str = "USER") -> tuple[str, str]:
    response = httpx.post(f"{base_url}/users", json=sign_up_body(role), timeout=30)
    assert response.status_code == 201, response.text
    body = response.json()
    return body["user"]["userId"], body["token"]


def assert_problem(response: httpx.Response, status: int, reason: str) -> dict:
    """The response is an RFC 9457 problem with this status and reason; returns its body."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    assert response.headers["content-type"].split(";")[0].strip() == PROBLEM, response.headers
    body = response.json()
    assert body["status"] == status, body
    assert body["reason"] == reason, body
    assert isinstance(body["errors"], list), body
    assert body["title"] and body["type"] and body["detail"], body
    return body


class DocumentedResponses:
    """An httpx response hook that holds every answer of the gateway to its OpenAPI
    document: the status is documented for the operation, the content type is one
    documented for that status, and the body matches the documented schema."""

    def __init__(self, base_url: str) -> None:
        import schemathesis

        self.schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", wait_for_schema=30)
        self.paths: dict = self.schema.raw_schema["paths"]
        self.templates = [
            (re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "$"), path) for path in self.paths
        ]
        self.checked: Counter[tuple[str, str, int]] = Counter()

    def operation_of(self, method: str, path: str) -> tuple[str, dict] | None:
        for pattern, template in self.templates:
            if pattern.match(path) and method.lower() in self.paths[template]:
                return template, self.paths[template][method.lower()]
        return None

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        found = self.operation_of(request.method, request.url.path)
        if found is None:  # /docs, /openapi.json, unknown paths
            return
        template, operation = found
        label = f"{request.method} {template}"
        documented = operation["responses"]
        assert str(response.status_code) in documented, (
            f"{label} answered {response.status_code}, documented: {sorted(documented)}\n{response.text}"
        )
        content = documented[str(response.status_code)].get("content", {})
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if content:
            assert media_type in content, f"{label} {response.status_code} sent {media_type}, documented: {list(content)}"
        for header, spec in documented[str(response.status_code)].get("headers", {}).items():
            if spec.get("required"):
                assert header in response.headers, f"{label} {response.status_code} lacks the {header} header"
        if not isinstance(request.stream, httpx.ByteStream):  # a streamed upload: validate a copy without it
            copy = httpx.Request(request.method, request.url, headers=request.headers)
            response = httpx.Response(response.status_code, headers=response.headers, content=response.content, request=copy)
            response.elapsed = timedelta(0)
        self.schema[template][request.method].validate_response(response)
        self.checked[(request.method, template, response.status_code)] += 1
