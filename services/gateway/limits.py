"""Refuses request bodies over 64 KiB before the application reads them."""

from contracts.topology import MAX_BODY_BYTES
from services.gateway.problems import problem

TOO_LARGE = f"The request body is larger than {MAX_BODY_BYTES // 1024} KiB."


class BodySizeLimit:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return await problem(413, "PAYLOAD_TOO_LARGE", TOO_LARGE)(scope, receive, send)
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:
            await problem(413, "PAYLOAD_TOO_LARGE", TOO_LARGE)(scope, receive, send)


class BodyTooLarge(Exception):
    pass
