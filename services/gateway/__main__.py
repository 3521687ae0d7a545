"""`python -m services.gateway`: the gateway under uvicorn on BOOKING_HTTP_HOST:BOOKING_HTTP_PORT, in
BOOKING_GATEWAYS processes. With more than one, uvicorn's supervisor binds the port
once and the processes accept from it in turn; each has its own broker connection
and database pool."""

import ipaddress
import sys

import uvicorn

from services.logs import configure_logging
from services.settings import Settings, get_settings

# secrets anyone who reads the repository knows: the settings' default and docker-compose's
PUBLISHED_SECRETS = {Settings.model_fields["token_secret"].default, "change-me-in-production"}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # any other name may resolve to anything
        return False


def refusal(settings: Settings) -> str | None:
    """Why the gateway must not start with these settings, or None."""
    if settings.token_secret in PUBLISHED_SECRETS and not is_loopback(settings.http_host):
        return (
            f"refusing to start: BOOKING_TOKEN_SECRET is a published default and the gateway would listen on "
            f"{settings.http_host} (BOOKING_HTTP_HOST), not loopback, so anyone could sign a token for any user; "
            "set BOOKING_TOKEN_SECRET to a secret of this deployment"
        )
    return None


def main() -> None:
    settings = get_settings()
    if (reason := refusal(settings)) is not None:
        sys.exit(reason)
    configure_logging(settings.log_level)
    uvicorn.run(
        "services.gateway.app:create_served_app",
        factory=True,
        workers=settings.gateways,
        host=settings.http_host,
        port=settings.http_port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
