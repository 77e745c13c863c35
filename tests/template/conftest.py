"""Temporary template repositories and generated projects, driven by copier's CLI.

Generating, updating and linting projects takes minutes, so these tests run in CI (CI=true)
or with TEMPLATE_TESTS=1, and skip otherwise. They use no backing service, so they run once,
in the suite on the embedded defaults (the `embedded_only` mark), not again for each database of
`make test-matrix`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ASKED = os.environ.get("CI") == "true" or os.environ.get("TEMPLATE_TESTS") == "1"
slow = pytest.mark.skipif(
    not ASKED, reason="generates whole projects (minutes): set TEMPLATE_TESTS=1, or CI=true"
)

# Commits made by the tests carry this identity, and no user or system git config applies.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "template-tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "template-tests@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def clean_env() -> dict[str, str]:
    """This process's environment without what would point a project at our services."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TEST_", "FLASK_", "UV_PROJECT")) and key != "VIRTUAL_ENV"
    }
    for setting in ("APP_ENV", "DATABASE_URL", "CELERY_BROKER_URL", "RATELIMIT_STORAGE_URI"):
        env.pop(setting, None)
    return env | GIT_ENV


def run(*command: str | Path, cwd: Path, timeout: float = 300, **env: str) -> str:
    """Run a command to completion and return its output; fail the test, showing it, if not."""
    done = subprocess.run(  # noqa: S603 - our own commands, no shell
        [str(part) for part in command],
        cwd=cwd,
        env=clean_env() | env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, command))} exited {done.returncode}:\n{output[-6000:]}")
    return output


def git(*args: str, cwd: Path) -> str:
    return run("git", *args, cwd=cwd, timeout=60)


def copier(*args: str | Path, cwd: Path) -> str:
    return run(sys.executable, "-m", "copier", *args, cwd=cwd, timeout=300)


def template_repository(dest: Path) -> Path:
    """A git repository of this checkout's files as they are on disk, committed or not."""
    listing = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=PROJECT_ROOT)
    for name in filter(None, listing.split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    git("init", "--quiet", "--initial-branch=main", cwd=dest)
    git("add", "--all", cwd=dest)
    git("commit", "--quiet", "--message=The template", cwd=dest)
    return dest


def uv() -> str:
    found = shutil.which("uv") or PROJECT_ROOT / ".tools" / "bin" / "uv"
    return str(found)


def make(*targets: str, cwd: Path, timeout: float = 600) -> str:
    """The project's own make targets, run in this suite's virtualenv: the generated project
    locks the same packages, so installing them again would only repeat the same files."""
    return run(
        "make",
        "--no-print-directory",
        "-o",
        ".venv/.synced",
        f"UV={uv()}",
        *targets,
        cwd=cwd,
        timeout=timeout,
        UV_PROJECT_ENVIRONMENT=sys.prefix,
    )
