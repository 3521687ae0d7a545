"""Refuses request bodies over 64 KiB before the application reads them."""

from contracts.topology import MAX_BODY_BYTES
from services.gateway.problems import problem

TOO_LARGE = f"The request body is larger than {MAX_BODY_BYTES // 1024} KiB."


class BodySizeLimit:
    """A declared Content-Length over the limit is refused at once; a body without one
    (chunked) is read here, at most the limit, and handed on whole. (Raising from the
    application's `receive` instead does not work: FastAPI turns any error while reading
    the body into a 400.)"""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return await problem(413, "PAYLOAD_TOO_LARGE", TOO_LARGE)(scope, receive, send)
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > MAX_BODY_BYTES:
                return await problem(413, "PAYLOAD_TOO_LARGE", TOO_LARGE)(scope, receive, send)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        delivered = False

        async def replay():
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return body

        await self.app(scope, replay, send)
