"""What the routes share: the gateway's parts (on `app.state.gateway`), the caller from
the bearer token, and enqueue-and-wait of a command with its id."""

import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.booking.db.reads import Reads
from services.gateway.problems import Answered, ProblemResponse, rejection_problem
from services.gateway.requester import BrokerUnavailable, Requester
from services.gateway.tokens import TokenSigner

IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0c6a43-4f0e-4f59-9a34-5a7a4c1b7c11")


@dataclass(frozen=True)
class Gateway:
    """The parts every request uses: set on app.state.gateway by the lifespan (or by a
    test, with stand-ins)."""

    signer: TokenSigner
    requester: Requester
    reads: Reads
    reply_timeout: float


def gateway_of(request: Request) -> Gateway:
    return request.app.state.gateway


# ---- authentication

bearer = HTTPBearer(auto_error=False, description="The token that POST /users returned.")


# async: a plain def dependency would cost every request a hop to the thread pool
async def caller(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> UUID:
    user_id = gateway_of(request).signer.verify(credentials.credentials) if credentials else None
    if user_id is None:
        raise ProblemResponse(401, "UNAUTHENTICATED", "A valid bearer token is required.",
                              headers={"WWW-Authenticate": "Bearer"})
    return user_id


Caller = Annotated[UUID, Depends(caller)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


# ---- enqueue and wait


def command_id_for(caller: str, idempotency_key: str | None) -> str:
    """The same key from the same caller is the same command."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{caller}\n{idempotency_key}"))


async def send(gateway: Gateway, command_type: str, actor: UUID | None, body: dict[str, Any], command_id: str) -> dict:
    """The command's success reply; a rejection, an unreachable broker or a reply that
    did not come in time is raised as the finished response (problem, 503, 202)."""
    command = {"type": command_type, "commandId": command_id, "actorId": str(actor) if actor else None, **body}
    try:
        reply = await gateway.requester.request(command, gateway.reply_timeout)
    except BrokerUnavailable:
        raise ProblemResponse(503, "UNAVAILABLE", "The booking service cannot take commands right now.",
                              headers={"Retry-After": "5"}) from None
    if reply is None:
        raise Answered(JSONResponse(
            {"commandId": command_id, "status": "PENDING", "location": f"/commands/{command_id}"},
            status_code=202,
            headers={"Location": f"/commands/{command_id}"},
        ))
    if "reason" in reply:
        raise Answered(rejection_problem(reply))
    return reply


async def send_as(request: Request, actor: UUID, command_type: str, body: dict[str, Any], idempotency_key: str | None) -> dict:
    """send() of a caller's command, its id from the caller and the Idempotency-Key."""
    return await send(gateway_of(request), command_type, actor, body, command_id_for(str(actor), idempotency_key))
