"""Baseline (b) of `make bench-http`: the gateway's server stack (uvicorn, uvloop,
httptools) with a one-route Starlette app that answers 201 with a small JSON at
once, no I/O. `python -m benchmarks.http.minimal_app`, on BOOKING_HTTP_PORT."""

import os

import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"booking":{"bookingId":"00000000-0000-0000-0000-000000000000","status":"CONFIRMED"}}'


async def create_booking(_request) -> Response:
    return Response(BODY, status_code=201, media_type="application/json")


app = Starlette(routes=[Route("/booking", create_booking, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("BOOKING_HTTP_PORT", "8000")),
                loop="uvloop", http="httptools", access_log=False)
