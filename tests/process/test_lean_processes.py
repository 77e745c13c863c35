"""Web and worker processes start fast and stay small: they load no part they do not use.

Alembic serves only `flask db`; an optional feature's packages load only when it is on, and
email-validator only when an address is validated. Each of these costs every worker import
time at start and memory for its whole life.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.process.conftest import (
    ONE_OFF_TIMEOUT,
    PROJECT_ROOT,
    Databases,
    Processes,
    environment,
    flask_command,
)

pytestmark = pytest.mark.no_shared_db

# Packages the serving processes must not import with the default settings.
NOT_LOADED = (
    "alembic",
    "flask_migrate",
    "sentry_sdk",
    "opentelemetry.sdk",
    "prometheus_client",
    "email_validator",
)


def loaded_packages(module: str, database: Path) -> list[str]:
    code = (
        f"import sys, {module}; "
        f"print(' '.join(name for name in {NOT_LOADED!r} if name in sys.modules))"
    )
    done = subprocess.run(  # noqa: S603 - our own commands, no shell
        [sys.executable, "-c", code],
        env=environment(DATABASE_URL=f"sqlite:///{database}"),
        capture_output=True,
        text=True,
        timeout=ONE_OFF_TIMEOUT,
        check=True,
    )
    return done.stdout.split()


@pytest.mark.parametrize("entry_point", ["app.wsgi", "app.worker"])
def test_the_web_and_worker_processes_load_neither_migrations_nor_optional_parts(
    entry_point: str, tmp_path: Path
) -> None:
    assert loaded_packages(entry_point, tmp_path / "test.db") == []


def test_the_release_step_still_has_its_migration_commands(tmp_path: Path) -> None:
    done = subprocess.run(  # noqa: S603 - our own commands, no shell
        flask_command("db", "--help"),
        env=environment(DATABASE_URL=f"sqlite:///{tmp_path / 'test.db'}"),
        capture_output=True,
        text=True,
        timeout=ONE_OFF_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    assert "upgrade" in done.stdout


def test_the_web_server_collects_garbage_again_before_it_forks_workers(tmp_path: Path) -> None:
    """The server's configuration builds the app with the garbage collector off (everything
    built then lives as long as the process). Before forking it frees the build's garbage,
    which workers would otherwise free themselves, copying the pages they share with the
    master, and turns collection back on: workers without it would never free a cycle."""
    code = (
        "import gc, runpy; "
        "hooks = runpy.run_path('gunicorn.conf.py'); "
        "print(gc.isenabled()); "
        "hooks['on_starting'](None); "
        "print(gc.isenabled(), gc.collect())"
    )
    done = subprocess.run(  # noqa: S603 - our own commands, no shell
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=environment(DATABASE_URL=f"sqlite:///{tmp_path / 'test.db'}"),
        capture_output=True,
        text=True,
        timeout=ONE_OFF_TIMEOUT,
        check=True,
    )
    assert done.stdout.split() == ["False", "True", "0"]


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == "Rss":
            return int(value.split()[0]) / 1024
    raise AssertionError(f"no Rss for {pid}")


def test_a_worker_gives_back_the_memory_of_its_password_checks(
    processes: Processes, databases: Databases
) -> None:
    """Each password check (argon2) works in 19 MiB. A worker returns them to the system
    after every check, instead of keeping them for good from its second check on."""
    # Development hashes with production's parameters (the test environment's are cheap).
    env = environment(DATABASE_URL=databases.create(), WEB_CONCURRENCY="1", APP_ENV="development")
    web = processes.web(env)
    # A refused sign-in loads what the first requests load, without checking a password.
    assert web.request("POST", "/api/v1/auth/login", json_body={}).status == 422
    (worker,) = web.process.children()
    before = resident_mib(worker)
    for _ in range(3):  # unknown address: still checked, against a stand-in hash
        assert web.log_in("nobody@example.com").status == 401
    assert resident_mib(worker) - before < 8
