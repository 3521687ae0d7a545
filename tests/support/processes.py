"""Running the real worker (and later the gateway) as child processes."""

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class ServiceProcess:
    """A service started with `python -m module`, its JSON logs in a file."""

    def __init__(
        self, module: str, env: dict[str, str], log_path: Path, ready_line: str, cwd: Path = ROOT,
        port: int | None = None,
    ) -> None:
        """Ready once `ready_line` is logged and, given a `port`, it accepts connections
        (several gateway processes start accepting only after their parent's log line)."""
        self.module = module
        self.port = port
        self.cwd = cwd
        self.env = env
        self.log_path = log_path
        self.ready_line = ready_line
        self.process: subprocess.Popen | None = None
        self._log_offset = 0

    def start(self, timeout: float = 60) -> "ServiceProcess":
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module], cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_line in self.new_log() and (self.port is None or _accepting(self.port)):
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.module} exited at start:\n{self.new_log()[-4000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.module} not ready in {timeout}s:\n{self.new_log()[-4000:]}")

    def new_log(self) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            return self.process.wait(timeout)
        return self.process.returncode if self.process else 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def family(self) -> list[int]:
        """This process and its children (BOOKING_GATEWAYS > 1 serves from children)."""
        return [self.pid, *child_pids(self.pid)]


def _accepting(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def child_pids(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def worker_process(env: dict[str, str], log_path: Path, tree: Path = ROOT) -> ServiceProcess:
    """`tree`: the checkout whose worker runs (the benchmark measures an older one too)."""
    # several workers run side by side in tests: no fixed metrics port unless asked
    env = {"BOOKING_METRICS_PORT": "0", **env, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(tree)}
    return ServiceProcess("services.worker", env, log_path, '"worker started"', cwd=tree)



def gateway_process(env: dict[str, str], log_path: Path, port: int, tree: Path = ROOT) -> ServiceProcess:
    env = {**env, "PYTHONUNBUFFERED": "1", "BOOKING_HTTP_PORT": str(port), "PYTHONPATH": str(tree)}
    return ServiceProcess("services.gateway", env, log_path, "Uvicorn running", cwd=tree, port=port)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
