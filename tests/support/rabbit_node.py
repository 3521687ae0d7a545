"""A private RabbitMQ node for tests that restart the broker (or, later, build a
cluster): started beside the shared node on this machine, never touching it.

Everything of the node lives in one temporary directory owned by the rabbitmq user
(the server runs as that user when the tests run as root): its Mnesia and quorum
data, logs, enabled-plugins file, config, and its HOME with an Erlang cookie of its
own, which rabbitmqctl finds through the same HOME. The shared node's env file
(/etc/rabbitmq/rabbitmq-env.conf, NODENAME=rabbit@localhost) is replaced by one of
the node's own. Ports are picked free: AMQP, Erlang distribution, management. Nodes
started with the same `cookie` can be joined into a cluster."""

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx

from tests.support.processes import free_port

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
PLUGINS = ("rabbitmq_management", "rabbitmq_sharding", "rabbitmq_consistent_hash_exchange")
SERVICE_USER = "rabbitmq"


def available() -> bool:
    return (RABBITMQ_BIN / "rabbitmq-server").exists() and (os.geteuid() != 0 or _has_user(SERVICE_USER))


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@dataclass
class RabbitNode:
    name: str  # e.g. booking-t1@localhost
    base: Path
    amqp_port: int
    dist_port: int
    management_port: int
    cookie: str
    process: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)

    def amqp_url(self, vhost: str = "/") -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/{quote(vhost, safe='')}"

    @property
    def management_url(self) -> str:
        return f"http://guest:guest@127.0.0.1:{self.management_port}"

    def management(self) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.management_port}", auth=("guest", "guest"), timeout=30)

    def ctl(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        """rabbitmqctl against this node only (-n), with its cookie."""
        return subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.name, *args], env=self.env, cwd=self.base,
            capture_output=True, text=True, timeout=timeout, check=check, **_as_service_user(),
        )

    def add_vhost(self, vhost: str) -> str:
        with self.management() as api:
            api.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
            api.put(f"/api/permissions/{quote(vhost, safe='')}/guest",
                    json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
        return self.amqp_url(vhost)

    def restart_app(self) -> float:
        """`stop_app` then `start_app`, as a broker restart; returns the seconds taken."""
        started = time.monotonic()
        self.ctl("stop_app")
        self.ctl("start_app")
        self.ctl("await_startup")
        self._wait_for_management()
        return time.monotonic() - started

    def _wait_for_management(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with self.management() as api:
                    if api.get("/api/overview").status_code == 200:
                        return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"management API of {self.name} not up in {timeout}s")

    def log_tail(self, size: int = 4000) -> str:
        logs = sorted((self.base / "log").glob("*.log"))
        return "\n".join(path.read_text(errors="replace")[-size:] for path in logs)


def _as_service_user() -> dict:
    return {"user": SERVICE_USER, "group": SERVICE_USER, "extra_groups": []} if os.geteuid() == 0 else {}


def start_node(label: str = "t1", cookie: str | None = None, timeout: float = 90) -> RabbitNode:
    base = Path(tempfile.mkdtemp(prefix=f"rabbit-{label}-"))
    node = RabbitNode(
        name=f"booking-{label}-{secrets.token_hex(3)}@localhost",
        base=base,
        amqp_port=free_port(),
        dist_port=free_port(),
        management_port=free_port(),
        cookie=cookie or secrets.token_hex(16),
    )
    (base / "mnesia").mkdir()
    (base / "log").mkdir()
    (base / "home").mkdir()
    cookie_file = base / "home" / ".erlang.cookie"
    cookie_file.write_text(node.cookie)
    cookie_file.chmod(0o400)
    (base / "enabled_plugins").write_text(f"[{','.join(PLUGINS)}].\n")
    (base / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = {node.amqp_port}\n"
        f"management.tcp.port = {node.management_port}\n"
        "management.tcp.ip = 127.0.0.1\n"
    )
    (base / "rabbitmq-env.conf").write_text("ERL_EPMD_ADDRESS=127.0.0.1\n")
    if os.geteuid() == 0:
        for path in [base, *base.rglob("*")]:
            shutil.chown(path, SERVICE_USER, SERVICE_USER)
    node.env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(base / "home"),
        "LANG": "C.UTF-8",
        "RABBITMQ_NODENAME": node.name,
        "RABBITMQ_NODE_PORT": str(node.amqp_port),
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_DIST_PORT": str(node.dist_port),
        "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_PID_FILE": str(base / "rabbit.pid"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
    }
    output = (base / "server.out").open("wb")
    node.process = subprocess.Popen(
        [str(RABBITMQ_BIN / "rabbitmq-server")], env=node.env, cwd=base, stdout=output, stderr=subprocess.STDOUT,
        start_new_session=True, **_as_service_user(),
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if node.process.poll() is not None:
                raise RuntimeError(f"{node.name} exited at start:\n{(base / 'server.out').read_text()[-4000:]}")
            if node.ctl("await_startup", "--timeout", "5", check=False, timeout=30).returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{node.name} not started in {timeout}s:\n{node.log_tail()}")
            time.sleep(0.5)
        node._wait_for_management()
    except BaseException:
        stop_node(node)
        raise
    return node


def stop_node(node: RabbitNode) -> None:
    """Stop the node (gracefully, then by force) and remove its directory."""
    try:
        if node.process is not None and node.process.poll() is None:
            node.ctl("stop", check=False, timeout=60)
            try:
                node.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(node.process.pid, 9)
                node.process.wait(10)
    finally:
        shutil.rmtree(node.base, ignore_errors=True)
