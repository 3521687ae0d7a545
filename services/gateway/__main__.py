"""`python -m services.gateway`: the gateway under uvicorn on BOOKING_HTTP_PORT."""

import uvicorn

from services.gateway.app import create_app
from services.logs import configure_logging
from services.settings import get_settings


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host="0.0.0.0",
        port=settings.http_port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
    )


main()
