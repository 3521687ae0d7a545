"""`make run`: the whole system in the foreground. Starts BOOKING_WORKERS worker
processes and the HTTP gateway and keeps them running: a child that dies is logged
(exit code or signal) and started again after a capped backoff (0.5 s doubling to
30 s; back to 0.5 s once it has stayed up STABLE_AFTER seconds). Worker i always gets
the metrics port BOOKING_METRICS_PORT + i. Only a child that dies at start-up
GIVE_UP_AFTER times in a row makes the launcher stop the others and exit 1. Ctrl-C or
SIGTERM stops every child (SIGTERM, then SIGKILL after STOP_TIMEOUT) and exits 0."""

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from services.logs import configure_logging
from services.settings import get_settings

log = logging.getLogger("booking.launcher")

BACKOFF_START = 0.5  # seconds before the first restart
BACKOFF_MAX = 30.0
STABLE_AFTER = 10.0  # a child up this long did not die "at start-up": backoff and count start over
GIVE_UP_AFTER = 5  # consecutive start-up deaths of one child
STOP_TIMEOUT = 10.0  # seconds a child gets to stop after SIGTERM
POLL = 0.1


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM it when the launcher dies (even by SIGKILL),
    so no worker is left consuming without a supervisor."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: nothing to do


def describe_exit(code: int) -> dict:
    """A returncode as log fields: {"exitCode": n} or {"signal": "SIGKILL"}."""
    if code < 0:
        try:
            return {"signal": signal.Signals(-code).name}
        except ValueError:
            return {"signal": str(-code)}
    return {"exitCode": code}


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    quick_deaths: int = 0  # consecutive deaths soon after starting
    backoff: float = BACKOFF_START
    restart_at: float | None = None
    extra: dict = field(default_factory=dict)  # logged with every line about this child

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv, env=self.env, process_group=0, preexec_fn=_die_with_parent  # own group: Ctrl-C reaches only us
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        log.info("child started", extra={"child": self.name, "pid": self.process.pid, **self.extra})

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    def __init__(
        self, children: list[Child], stop_timeout: float = STOP_TIMEOUT,
        backoff: tuple[float, float] = (BACKOFF_START, BACKOFF_MAX), stable_after: float = STABLE_AFTER,
        give_up_after: int = GIVE_UP_AFTER,
    ) -> None:
        self.children = children
        self.stop_timeout = stop_timeout
        self.backoff_start, self.backoff_max = backoff
        self.stable_after = stable_after
        self.give_up_after = give_up_after
        self.stopping = False

    def request_stop(self, *_: object) -> None:
        self.stopping = True

    def run(self) -> int:
        """Until asked to stop (0) or a child keeps dying at start (1)."""
        for child in self.children:
            child.backoff = self.backoff_start
            child.start()
        failed = False
        while not self.stopping and not failed:
            time.sleep(POLL)
            now = time.monotonic()
            for child in self.children:
                if child.restart_at is not None:
                    if now >= child.restart_at and not self.stopping:
                        child.start()
                elif not child.running():
                    failed = self._died(child, now)
                    if failed:
                        break
                elif now - child.started_at >= self.stable_after:
                    child.quick_deaths, child.backoff = 0, self.backoff_start
        self.stop_all()
        return 1 if failed else 0

    def _died(self, child: Child, now: float) -> bool:
        """Schedule the restart of a dead child; True when it is time to give up."""
        uptime = now - child.started_at
        how = describe_exit(child.process.returncode)
        child.quick_deaths = child.quick_deaths + 1 if uptime < self.stable_after else 0
        fields = {"child": child.name, "pid": child.process.pid, "uptime": round(uptime, 2), **how, **child.extra}
        giving_up = child.quick_deaths >= self.give_up_after
        log.warning("child exited", extra={**fields, "restartIn": None if giving_up else child.backoff})
        if giving_up:
            reason = f"died {child.quick_deaths} times in a row within {self.stable_after:g}s of starting"
            log.error("giving up", extra={**fields, "deaths": child.quick_deaths, "reason": reason})
            return True
        child.restart_at = now + child.backoff
        child.backoff = min(child.backoff * 2, self.backoff_max)
        return False

    def stop_all(self) -> None:
        """SIGTERM to every running child, SIGKILL to those still running after the timeout."""
        running = [child for child in self.children if child.running()]
        for child in running:
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in running:
            try:
                code = child.process.wait(max(0.0, deadline - time.monotonic()))
                log.info("child stopped", extra={"child": child.name, "pid": child.process.pid, **describe_exit(code)})
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
                log.warning(
                    "child killed", extra={"child": child.name, "pid": child.process.pid, "after": self.stop_timeout}
                )


def children_from_settings() -> list[Child]:
    settings = get_settings()
    children = []
    for i in range(settings.workers):
        # each worker serves /metrics and /health on its own port: 9100, 9101, ...
        port = settings.metrics_port + i if settings.metrics_port else 0
        env = {**os.environ, "BOOKING_METRICS_PORT": str(port)}
        children.append(Child(f"worker-{i}", [sys.executable, "-m", "services.worker"], env, extra={"metricsPort": port}))
    children.append(Child("gateway", [sys.executable, "-m", "services.gateway"], dict(os.environ)))
    return children


def main() -> None:
    configure_logging(get_settings().log_level)
    supervisor = Supervisor(children_from_settings())
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    code = supervisor.run()
    log.info("launcher stopped", extra={"exitCode": code})
    sys.exit(code)


if __name__ == "__main__":
    main()
