"""Web and worker processes start fast and stay small: they load no part they do not use.

Alembic serves only `flask db`; an optional feature's packages load only when it is on, and
email-validator only when an address is validated. Each of these costs every worker import
time at start and memory for its whole life.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.process.conftest import (
    ONE_OFF_TIMEOUT,
    PROJECT_ROOT,
    REDIS_SERVER,
    Databases,
    Processes,
    environment,
    flask_command,
)

pytestmark = [pytest.mark.no_shared_db, pytest.mark.embedded_only]

# Packages the serving processes must not import with the default settings.
NOT_LOADED = (
    "alembic",
    "flask_migrate",
    "sentry_sdk",
    "opentelemetry",
    "prometheus_client",
    "email_validator",
)


OBSERVABILITY = ("opentelemetry", "sentry_sdk")
# As in an install without the `observability` extra: these packages cannot be imported.
WITHOUT_OBSERVABILITY = f"""
import sys
class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {OBSERVABILITY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, NotInstalled())
"""


def run_python(code: str, **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own commands, no shell
        [sys.executable, "-c", code],
        env={**environment(), **variables},
        capture_output=True,
        text=True,
        timeout=ONE_OFF_TIMEOUT,
    )


def loaded_packages(module: str, database: Path, prelude: str = "", **variables: str) -> list[str]:
    code = (
        f"{prelude}\nimport sys, {module}\n"
        f"print(' '.join(name for name in {NOT_LOADED!r} if name in sys.modules))"
    )
    done = run_python(code, DATABASE_URL=f"sqlite:///{database}", **variables)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def default_install() -> set[str]:
    """The packages `uv sync --no-dev` installs: the closure of the project's dependencies
    in uv.lock, without extras or groups."""
    lock = tomllib.loads((PROJECT_ROOT / "uv.lock").read_text())
    packages = {package["name"]: package for package in lock["package"]}
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    wanted: list[dict[str, Any]] = [{"name": pyproject["project"]["name"]}]
    seen: set[tuple[str, tuple[str, ...]]] = set()
    while wanted:
        dependency = wanted.pop()
        key = (dependency["name"], tuple(dependency.get("extra", [])))
        if key in seen:
            continue
        seen.add(key)
        package = packages[dependency["name"]]
        wanted += package.get("dependencies", [])
        for extra in dependency.get("extra", []):
            wanted += package["optional-dependencies"][extra]
    return {name for name, _extras in seen}


@pytest.mark.parametrize("entry_point", ["app.wsgi", "app.worker"])
def test_the_web_and_worker_processes_load_neither_migrations_nor_optional_parts(
    entry_point: str, tmp_path: Path
) -> None:
    assert loaded_packages(entry_point, tmp_path / "test.db") == []


def test_the_default_install_leaves_out_opentelemetry_and_sentry() -> None:
    installed = default_install()
    assert {"flask", "redis", "celery", "prometheus-client"} <= installed
    assert sorted(p for p in installed if p.startswith(("opentelemetry", "sentry"))) == []


@pytest.mark.parametrize("entry_point", ["app.wsgi", "app.worker"])
def test_without_the_extra_processes_with_redis_start_and_load_no_observability(
    entry_point: str, tmp_path: Path
) -> None:
    # Redis as broker and rate-limit store brings in redis-py, which imports OpenTelemetry's
    # metrics SDK whenever it is installed.
    loaded = loaded_packages(
        entry_point,
        tmp_path / "test.db",
        prelude=WITHOUT_OBSERVABILITY,
        CELERY_BROKER_URL=f"{REDIS_SERVER}/13",
        RATELIMIT_ENABLED="true",
        RATELIMIT_STORAGE_URI=f"{REDIS_SERVER}/13",
    )
    assert loaded == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        ("SENTRY_DSN", "https://k@o.example/1"),
    ],
)
def test_tracing_or_error_reports_without_the_extra_refuse_to_start_naming_it(
    variable: str, value: str, tmp_path: Path
) -> None:
    done = run_python(
        f"{WITHOUT_OBSERVABILITY}\nimport app.wsgi",
        DATABASE_URL=f"sqlite:///{tmp_path / 'test.db'}",
        **{variable: value},
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert variable in done.stderr
    assert "uv sync --extra observability" in done.stderr


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
