"""Packaging beyond pyproject.toml: the Alembic environment and revisions stay in
migrations/ at the top of the checkout (where `alembic` and `make migrate` use them),
and every built package carries a copy as services/booking/db/migrations, which
`booking-migrate` uses when it runs from an installed wheel, with no checkout."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithMigrations(build_py):
    def run(self) -> None:
        super().run()
        if not getattr(self, "editable_mode", False):  # an editable install reads the checkout's copy
            target = Path(self.build_lib, "services", "booking", "db", "migrations")
            shutil.copytree("migrations", target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithMigrations})
