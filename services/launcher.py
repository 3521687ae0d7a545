"""`make run`: the whole system in the foreground. Starts BOOKING_WORKERS worker
processes (default 1) and the HTTP gateway, stops them all on Ctrl-C or SIGTERM,
and stops everything if one of them dies."""

import os
import signal
import subprocess
import sys
import time


def main() -> None:
    workers = int(os.environ.get("BOOKING_WORKERS", "1"))
    metrics_port = int(os.environ.get("BOOKING_METRICS_PORT", "9100"))
    worker = [sys.executable, "-m", "services.worker"]
    children = [
        # each worker serves /metrics and /health on its own port: 9100, 9101, ...
        subprocess.Popen(worker, env={**os.environ, "BOOKING_METRICS_PORT": str(metrics_port + i if metrics_port else 0)})
        for i in range(workers)
    ]
    children.append(subprocess.Popen([sys.executable, "-m", "services.gateway"]))
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        child.wait()
    sys.exit(0 if stopping else 1)


if __name__ == "__main__":
    main()
