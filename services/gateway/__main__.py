"""`python -m services.gateway`: the gateway under uvicorn on BOOKING_HTTP_PORT, in
BOOKING_GATEWAYS processes. With more than one, uvicorn's supervisor binds the port
once and the processes accept from it in turn; each has its own broker connection
and database pool."""

import uvicorn

from services.logs import configure_logging
from services.settings import get_settings


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        "services.gateway.app:create_served_app",
        factory=True,
        workers=settings.gateways,
        host="0.0.0.0",
        port=settings.http_port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
