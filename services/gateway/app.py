"""Composition root of the gateway: the FastAPI app, wired from its routes
(services.gateway.routes), its error handlers (services.gateway.problems) and a
lifespan that opens the broker connection and the database pool."""

import logging
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.booking.db import SERVER_SETTINGS
from services.booking.db.reads import Reads
from services.gateway.dependencies import Gateway
from services.gateway.limits import BodySizeLimit
from services.gateway.openapi import register_problem_schema
from services.gateway.problems import Answered, answered, http_error, invalid_request
from services.gateway.requester import Requester
from services.gateway.routes import router
from services.gateway.tokens import TokenSigner
from services.logs import configure_logging
from services.settings import Settings, get_settings

log = logging.getLogger("booking.gateway")


def create_served_app() -> FastAPI:
    """What uvicorn builds in each gateway process (services.gateway.__main__)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; building it opens nothing (its lifespan does)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        requester = Requester(settings.amqp_url)
        await requester.start()
        # min_size 0: like the gateway before it, one that starts while PostgreSQL is away
        # serves what it can (writes, /health says so) and connects when it is back
        pool = await asyncpg.create_pool(
            settings.database_url, min_size=0, max_size=settings.db_pool_size, server_settings=SERVER_SETTINGS
        )
        signer = TokenSigner(settings.token_secret, settings.token_ttl)
        app.state.gateway = Gateway(signer, requester, Reads(pool), settings.reply_timeout)
        log.info("gateway started", extra={"port": settings.http_port})
        try:
            yield
        finally:
            await requester.stop()
            await pool.close()

    app = FastAPI(
        title="Booking gateway",
        version="1.0.0",
        description="HTTP front of the booking service (CONTRACT.md section 6). Errors are application/problem+json.",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit)
    register_problem_schema(app)
    app.add_exception_handler(Answered, answered)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.include_router(router)
    return app
