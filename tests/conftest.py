import pytest

from tests.support.amqp_client import CommandClient
from tests.support.processes import free_port, gateway_process, worker_process
from tests.support.services import create_sandbox, destroy_sandbox, find_servers


@pytest.fixture(scope="session")
def servers():
    try:
        urls, containers = find_servers()
    except RuntimeError as error:
        pytest.exit(str(error), returncode=3)
    yield urls
    for container in containers:
        container.stop()


@pytest.fixture(scope="session")
def sandbox(servers):
    """The database and vhost of this test run's shared worker."""
    box = create_sandbox(servers, "e2e")
    yield box
    destroy_sandbox(box)


@pytest.fixture(scope="session")
def worker(sandbox, tmp_path_factory):
    process = worker_process(sandbox.env(), tmp_path_factory.mktemp("worker") / "worker.log").start()
    yield process
    process.terminate()


@pytest.fixture
async def client(worker, sandbox):
    async with CommandClient(sandbox.amqp_url) as command_client:
        yield command_client


@pytest.fixture(scope="session")
def gateway(worker, sandbox, tmp_path_factory):
    """The real gateway in front of the session's worker; yields its base URL."""
    port = free_port()
    process = gateway_process(sandbox.env(), tmp_path_factory.mktemp("gateway") / "gateway.log", port)
    process.start()
    yield f"http://127.0.0.1:{port}"
    process.terminate()
