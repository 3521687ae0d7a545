"""Issue 11, item 7: the published token secret. The gateway refuses a known default
BOOKING_TOKEN_SECRET when it would listen on anything but loopback, and says why;
on loopback (`make run` on a laptop) the default still works."""

import subprocess
import sys

import httpx
import pytest

from services.settings import Settings
from tests.support.processes import ROOT, free_port, gateway_process

DEFAULT_SECRETS = [Settings.model_fields["token_secret"].default, "change-me-in-production"]


def _env(sandbox, **extra: str) -> dict[str, str]:
    env = sandbox.env(PYTHONUNBUFFERED="1", BOOKING_HTTP_PORT=str(free_port()), **extra)
    if "BOOKING_TOKEN_SECRET" not in extra:
        env.pop("BOOKING_TOKEN_SECRET", None)  # the settings' default
    return env


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "gateway.example.com"])
@pytest.mark.parametrize("secret", [None, *DEFAULT_SECRETS])
def test_a_known_default_secret_off_loopback_is_refused_with_a_reason(sandbox, host, secret):
    extra = {"BOOKING_HTTP_HOST": host, **({"BOOKING_TOKEN_SECRET": secret} if secret else {})}
    try:
        done = subprocess.run([sys.executable, "-m", "services.gateway"], cwd=ROOT, env=_env(sandbox, **extra),
                              capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired as started:
        raise AssertionError(f"the gateway started on {host} with a published secret") from started
    assert done.returncode != 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "BOOKING_TOKEN_SECRET" in lines[0] and host in lines[0], lines[0]


@pytest.mark.parametrize(
    "extra",
    [
        {"BOOKING_HTTP_HOST": "0.0.0.0", "BOOKING_TOKEN_SECRET": "a-secret-of-this-deployment-only-Zq83"},
        {"BOOKING_HTTP_HOST": "127.0.0.1"},
        {},  # the default host is loopback
        {"BOOKING_HTTP_HOST": "localhost", "BOOKING_TOKEN_SECRET": DEFAULT_SECRETS[1]},
    ],
    ids=["any-host-own-secret", "loopback-default-secret", "defaults", "localhost"],
)
def test_the_gateway_starts_with_its_own_secret_or_on_loopback(sandbox, tmp_path, extra):
    env = _env(sandbox, **extra)
    port = int(env["BOOKING_HTTP_PORT"])
    process = gateway_process(env, tmp_path / "gateway.log", port)
    try:
        process.start()
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code in (200, 503)
    finally:
        process.terminate()
