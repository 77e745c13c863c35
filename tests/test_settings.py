"""Configuration comes from the environment, and production refuses unsafe values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from app import create_app
from app.core import project
from app.core.settings import (
    ServerSettings,
    Settings,
    available_cpus,
    check_web_server,
    check_worker,
    load_settings,
    normalize_database_url,
)
from tests.conftest import REDIS_TEST_DB, make_settings

pytestmark = pytest.mark.embedded_only

STRONG = "x" * 40


def production(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name in ("SECRET_KEY", "JWT_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_ENV", "production")
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def refusal(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    with pytest.raises(SystemExit) as exit_info:
        load_settings(Settings)
    return str(exit_info.value.code)


def test_production_without_secrets_names_both(monkeypatch: pytest.MonkeyPatch) -> None:
    production(monkeypatch)
    message = refusal(monkeypatch)
    assert "SECRET_KEY: is required in production" in message
    assert "JWT_SECRET_KEY: is required in production" in message


@pytest.mark.parametrize(
    ("secret", "complaint"),
    [
        ("short-secret", "at least 32 characters"),
        ("changeme", "placeholder"),
        ("secret", "placeholder"),
        ("development-secret-key-change-me-please", "placeholder"),
        ("insecure-development-secret-do-not-use-in-production", "placeholder"),
    ],
)
def test_production_refuses_weak_secrets(
    monkeypatch: pytest.MonkeyPatch, secret: str, complaint: str
) -> None:
    production(monkeypatch, SECRET_KEY=secret, JWT_SECRET_KEY=STRONG, CELERY_BROKER_URL="redis://")
    message = refusal(monkeypatch)
    assert "SECRET_KEY: " in message
    assert complaint in message
    assert "JWT_SECRET_KEY" not in message


def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    production(monkeypatch, SECRET_KEY="short", DATABASE_URL="not a url")
    message = refusal(monkeypatch)
    for variable in (
        "SECRET_KEY",
        "JWT_SECRET_KEY",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "SMTP_URL",
    ):
        assert f"\n  {variable}: " in message


def test_smtp_url_must_be_smtp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_URL", "http://mail.example.com")
    assert "SMTP_URL: must start with smtp:// or smtps://" in refusal(monkeypatch)


def test_unknown_app_env_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "staging")
    assert "APP_ENV: Input should be 'development', 'test' or 'production'" in refusal(monkeypatch)


def test_development_needs_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("APP_ENV", "SECRET_KEY", "JWT_SECRET_KEY", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.app_env == "development"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith(f"instance/{project.SLUG}.db")
    assert settings.effective_log_format == "console"


def test_production_with_strong_secrets_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    production(
        monkeypatch,
        SECRET_KEY=STRONG,
        JWT_SECRET_KEY="y" * 40,
        DATABASE_URL="postgres://app:pw@db.internal:5432/app",
        CELERY_BROKER_URL="redis://cache.internal:6379/0",
        SMTP_URL="smtps://mailer:pw@smtp.internal",
    )
    settings = Settings(_env_file=None)
    assert settings.effective_log_format == "json"
    assert settings.database_url == "postgresql+psycopg://app:pw@db.internal:5432/app"


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgresql://u:p@h/d", "postgresql+psycopg://u:p@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("mysql://u:p@h:3306/d", "mysql+pymysql://u:p@h:3306/d"),
        ("mariadb://u:p@h/d", "mariadb+pymysql://u:p@h/d"),
        ("sqlite:////tmp/app.db", "sqlite:////tmp/app.db"),
        ("sqlite://", "sqlite://"),
    ],
)
def test_database_url_forms_map_to_shipped_drivers(given: str, used: str) -> None:
    assert normalize_database_url(given) == used


@pytest.mark.parametrize(
    "bad", ["not a url", "oracle://u:p@h/d", "postgres:///nohost", "http://example.com"]
)
def test_unusable_database_urls_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="database_url"):
        Settings(_env_file=None, database_url=bad)


def test_dotenv_file_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=DEBUG\nAPP_RELEASE=from-dotenv\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    monkeypatch.setenv("APP_RELEASE", "from-environment")
    settings = Settings()
    assert settings.log_level == "DEBUG"
    assert settings.release == "from-environment"


def test_cors_origins_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings(_env_file=None).cors_origins == ["https://a.example", "https://b.example"]


def refused_start(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run a process that must refuse to start: its one message (stderr), never a traceback."""
    result = subprocess.run(  # noqa: S603 - fixed command line
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    return result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["flask", "--app", "app", "routes"],
        ["gunicorn", "--config", "{root}/gunicorn.conf.py", "--check-config"],
    ],
    ids=["flask-command", "web-server"],
)
def test_processes_refuse_production_without_secrets(
    command: list[str], project_root: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "JWT_SECRET_KEY"}}
    env.update(APP_ENV="production", PYTHONPATH=str(project_root))
    argv = [sys.executable, "-m", *(part.format(root=project_root) for part in command)]
    stderr = refused_start(argv, env, tmp_path)
    assert "SECRET_KEY: is required in production" in stderr
    assert "JWT_SECRET_KEY: is required in production" in stderr


@pytest.mark.parametrize("document", [".env.example", "README.md"])
def test_every_variable_is_documented(document: str, project_root: Path) -> None:
    text = (project_root / document).read_text()
    for settings_class in (Settings, ServerSettings):
        for name in settings_class.model_fields:
            assert name.upper() in text, f"{name.upper()} is missing from {document}"


def test_env_example_is_a_valid_development_configuration(
    monkeypatch: pytest.MonkeyPatch, project_root: Path
) -> None:
    monkeypatch.delenv("APP_ENV", raising=False)
    settings = Settings(_env_file=project_root / ".env.example")
    assert settings.app_env == "development"
    ServerSettings(_env_file=project_root / ".env.example")


def test_env_example_secrets_are_refused_in_production(
    monkeypatch: pytest.MonkeyPatch, project_root: Path
) -> None:
    for name in ("SECRET_KEY", "JWT_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(ValidationError) as error:
        Settings(_env_file=project_root / ".env.example")
    bad = {e["loc"][0] for e in error.value.errors()}
    assert bad == {"secret_key", "jwt_secret_key", "celery_broker_url", "smtp_url"}


@pytest.mark.no_shared_db
def test_only_configured_origins_may_call_from_a_browser() -> None:
    app = create_app(make_settings(database_url="sqlite://", cors_origins=["https://app.example"]))
    client = app.test_client()
    allowed = client.get("/livez", headers={"Origin": "https://app.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    exposed = allowed.headers["Access-Control-Expose-Headers"]
    for header in ("X-Request-ID", "Location", "ETag", "Idempotent-Replayed"):
        assert header in exposed
    other = client.get("/livez", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    unset = create_app(make_settings(database_url="sqlite://")).test_client()
    assert (
        "Access-Control-Allow-Origin"
        not in unset.get("/livez", headers={"Origin": "https://app.example"}).headers
    )


def test_a_mistyped_rate_limit_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATELIMIT_AUTH", "10 per minit")
    message = refusal(monkeypatch)
    assert "RATELIMIT_AUTH: '10 per minit' is not a rate limit" in message


def test_access_tokens_must_expire_before_refresh_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_ACCESS_TOKEN_EXPIRES", "3600")
    monkeypatch.setenv("JWT_REFRESH_TOKEN_EXPIRES", "3600")
    message = refusal(monkeypatch)
    assert (
        "JWT_REFRESH_TOKEN_EXPIRES: must be longer than JWT_ACCESS_TOKEN_EXPIRES (3600)" in message
    )


def test_a_missing_smtp_ca_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SMTP_CA_FILE", str(tmp_path / "absent.pem"))
    assert "SMTP_CA_FILE: " in refusal(monkeypatch)


def test_proxy_addresses_must_be_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8, proxy.local")
    message = refusal(monkeypatch)
    assert "FORWARDED_ALLOW_IPS: 'proxy.local' is not an IP address or network" in message


def production_server_env(project_root: Path, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RATELIMIT_", "WEB_"))}
    env.update(
        APP_ENV="production",
        PYTHONPATH=str(project_root),
        SECRET_KEY=STRONG,
        JWT_SECRET_KEY=STRONG,
        CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{REDIS_TEST_DB}",
        SMTP_URL="smtp://127.0.0.1:25",
    )
    env.update(variables)
    return env


def use_production_env(
    monkeypatch: pytest.MonkeyPatch, project_root: Path, **variables: str
) -> None:
    """This process's environment as production_server_env's, rate-limit defaults included."""
    for name in ("RATELIMIT_STORAGE_URI", "RATELIMIT_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in production_server_env(project_root, **variables).items():
        monkeypatch.setenv(name, value)


def test_production_refuses_per_process_rate_limits_for_several_workers(
    project_root: Path, tmp_path: Path
) -> None:
    """Each of three workers would count to the limit on its own: three times the limit."""
    stderr = refused_start(
        [sys.executable, "-m", "gunicorn", "--config", f"{project_root}/gunicorn.conf.py",
         "--check-config"],
        production_server_env(project_root, WEB_CONCURRENCY="3"),
        tmp_path,
    )  # fmt: skip
    assert "RATELIMIT_STORAGE_URI: memory:// counts per process" in stderr
    assert "WEB_CONCURRENCY=3" in stderr


@pytest.mark.parametrize(
    "fix",
    [
        {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/14"},
        {"RATELIMIT_ENABLED": "false"},
        {"WEB_CONCURRENCY": "1"},
    ],
    ids=["shared-storage", "limits-off", "one-worker"],
)
def test_shared_counters_or_one_worker_or_no_limits_may_start(
    monkeypatch: pytest.MonkeyPatch, project_root: Path, fix: dict[str, str]
) -> None:
    use_production_env(monkeypatch, project_root, **{"WEB_CONCURRENCY": "3", **fix})
    check_web_server(Settings(_env_file=None), ServerSettings(_env_file=None))


def test_a_production_worker_refuses_a_mail_cap_counted_per_child(
    project_root: Path, tmp_path: Path
) -> None:
    """Each of two child processes would count the mail cap on its own: twice the mails."""
    env = production_server_env(
        project_root,
        CELERY_WORKER_CONCURRENCY="2",
        # Refused before the broker is reached: nothing listens on port 1.
        CELERY_BROKER_URL=f"redis://127.0.0.1:1/{REDIS_TEST_DB}",
    )
    stderr = refused_start(
        [sys.executable, "-m", "celery", "-A", "app.worker", "worker"], env, tmp_path
    )
    assert "memory:// counts per process, so the worker's 2 child processes" in stderr
    assert "CELERY_WORKER_CONCURRENCY=1" in stderr


@pytest.mark.parametrize(
    ("fix", "children"),
    [
        ({"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/14"}, 4),
        ({"RATELIMIT_ENABLED": "false"}, 4),
        ({}, 1),
    ],
    ids=["shared-storage", "limits-off", "one-child"],
)
def test_a_shared_mail_cap_or_one_child_or_no_limits_may_start(
    monkeypatch: pytest.MonkeyPatch, project_root: Path, fix: dict[str, str], children: int
) -> None:
    use_production_env(monkeypatch, project_root, **fix)
    check_worker(Settings(_env_file=None), children)


def test_smtp_credentials_never_travel_unencrypted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_URL", "smtp://mailer:secret@smtp.example.com:587")
    monkeypatch.setenv("SMTP_STARTTLS", "false")
    assert "SMTP_STARTTLS: false would send SMTP_URL's password unencrypted" in refusal(monkeypatch)
    monkeypatch.setenv("SMTP_URL", "smtp://smtp.example.com:25")  # no credentials: allowed
    assert Settings(_env_file=None).smtp_starttls is False


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("100000 100000", 1), ("150000 100000", 2), ("50000 100000", 1), ("max 100000", None)],
)
def test_worker_count_follows_the_containers_cpu_limit(
    tmp_path: Path, cpu_max: str, expected: int | None
) -> None:
    """A pod limited to 1.5 CPUs on a big node gets 2 CPUs' worth of workers, not the node's."""
    limit = tmp_path / "cpu.max"
    limit.write_text(f"{cpu_max}\n")
    own_cpus = len(os.sched_getaffinity(0))

    assert available_cpus(limit) == min(own_cpus, expected or own_cpus)
    assert available_cpus(tmp_path / "absent") == own_cpus
