"""docker-compose.yml and the files it mounts, against what the code reads: no Docker
engine runs here, so this is what can be checked without one."""

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from services.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
REQUIRED_SECRET = re.compile(r"^\$\{BOOKING_TOKEN_SECRET:\?[^}]+\}$")


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _booking_services() -> dict[str, dict[str, str]]:
    return {
        name: {k: str(v) for k, v in (service.get("environment") or {}).items()}
        for name, service in _compose()["services"].items()
        if service.get("build")
    }


def test_every_booking_variable_in_the_compose_file_is_a_setting():
    variables = {k for env in _booking_services().values() for k in env if k.startswith("BOOKING_")}
    assert variables
    assert {v for v in variables if v.removeprefix("BOOKING_").lower() not in Settings.model_fields} == set()


@pytest.mark.parametrize("service", ["worker", "gateway", "migrate"])
def test_each_service_reaches_the_database_and_broker_containers(service):
    env = _booking_services()[service]
    assert urlsplit(env["BOOKING_DATABASE_URL"]).hostname == "postgres"
    if service != "migrate":
        assert urlsplit(env["BOOKING_AMQP_URL"]).hostname == "rabbitmq"
        # partition spreading and the DLQ gauge poll the management API; 127.0.0.1 is the container itself
        management = urlsplit(env["BOOKING_RABBITMQ_MANAGEMENT_URL"])
        assert (management.hostname, management.port) == ("rabbitmq", 15672)


def test_the_gateway_listens_on_all_interfaces_with_a_secret_that_must_be_given():
    services = _booking_services()
    assert services["gateway"]["BOOKING_HTTP_HOST"] == "0.0.0.0"
    assert services["gateway"]["BOOKING_HTTP_PORT"] == "8000"
    assert "8000:8000" in [str(p) for p in _compose()["services"]["gateway"]["ports"]]
    for env in services.values():  # no published default: compose refuses to start without one
        assert "BOOKING_TOKEN_SECRET" not in env or REQUIRED_SECRET.match(env["BOOKING_TOKEN_SECRET"])
    assert REQUIRED_SECRET.match(services["gateway"]["BOOKING_TOKEN_SECRET"])


def test_rabbitmq_gets_the_plugins_the_topology_needs():
    rabbitmq = _compose()["services"]["rabbitmq"]
    [mount] = [v for v in rabbitmq["volumes"] if v.split(":")[1] == "/etc/rabbitmq/enabled_plugins"]
    text = (ROOT / mount.split(":")[0]).read_text()
    assert re.fullmatch(r"\s*\[[a-z_, ]+\]\.\s*", text), text  # an Erlang list term
    plugins = {p.strip() for p in text.strip().rstrip(".").strip("[]").split(",")}
    # x-modulus-hash comes with rabbitmq_sharding; the management API serves the balancer
    assert {"rabbitmq_sharding", "rabbitmq_management"} <= plugins


def test_the_image_runs_the_installed_package_not_a_copy_of_the_checkout():
    """The last stage gets the wheel only: alembic.ini and migrations/ are not there
    to be read, so booking-migrate must use what the package carries."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    final = dockerfile.rsplit("\nFROM ", 1)[1]
    copies = [line for line in final.splitlines() if line.startswith(("COPY", "ADD"))]
    assert copies and all(line.startswith("COPY --from=") for line in copies), copies
    assert "pip install" in final and ".whl" in final
    assert _compose()["services"]["migrate"]["command"] == ["booking-migrate"]
