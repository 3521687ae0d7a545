"""The package as a container installs it: a wheel built from the checkout, installed
in a fresh virtual environment, and its `booking-migrate` run far from any checkout
against a new database."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import asyncpg
import pytest

from tests.support.processes import ROOT
from tests.support.services import create_sandbox, destroy_sandbox

TABLES = {"users", "availability_windows", "bookings", "processed_commands", "outbox", "alembic_version"}


def _run(*argv: str, **kwargs) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture
def fresh_database(servers):
    box = create_sandbox(servers, "wheel")
    yield box.database_url
    destroy_sandbox(box)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv holding only the wheel; the dependencies come from the test run's
    environment through a path entry, so nothing is downloaded."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # what the checkout holds, without ignored files (.venv, build/)
    files = _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp / "dist"),
         str(source))
    [wheel] = (tmp / "dist").glob("booking_service-*.whl")
    venv = tmp / "venv"
    _run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv))
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index", str(wheel))
    site = Path(_run(str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip())
    # a plain path entry: the test environment's packages, but not its editable install of the checkout
    (site / "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def _outside_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("BOOKING_")}
    return {**env, "BOOKING_DATABASE_URL": database_url}


async def test_booking_migrate_from_an_installed_wheel_creates_and_migrates_a_new_database(
    installed, fresh_database, tmp_path
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _outside_env(fresh_database)
    where = _run(str(installed / "bin" / "python"), "-c", "import services; print(services.__file__)", cwd=elsewhere, env=env)
    assert Path(where.strip()).is_relative_to(installed), where  # the wheel's copy, not the checkout

    _run(str(installed / "bin" / "booking-migrate"), cwd=elsewhere, env=env)

    conn = await asyncpg.connect(fresh_database)
    try:
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        version = await conn.fetchval("SELECT version_num FROM alembic_version")
    finally:
        await conn.close()
    assert TABLES <= tables
    heads = sorted(p.name.split("_")[0] for p in (ROOT / "migrations" / "versions").glob("[0-9]*.py"))
    assert version == heads[-1]
