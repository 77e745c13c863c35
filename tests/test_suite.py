"""The suite's own split: `make test` runs every test; the legs of `make test-matrix` (TEST_*
set) leave out those marked `embedded_only`, and only those."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKING_SERVICES

pytestmark = pytest.mark.embedded_only

ROOT = Path(__file__).resolve().parent.parent
# A module marked embedded_only, and one that is not.
MARKED, UNMARKED = "tests/test_docs.py", "tests/test_errors.py"


def collected(**variables: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in BACKING_SERVICES} | variables
    done = subprocess.run(  # noqa: S603 - fixed command line
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         MARKED, UNMARKED],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return [line.split("::")[0] for line in done.stdout.splitlines() if "::" in line]


def test_make_test_runs_the_embedded_only_tests() -> None:
    files = collected()
    assert MARKED in files
    assert UNMARKED in files


def test_a_matrix_leg_leaves_out_only_the_embedded_only_tests() -> None:
    files = collected(TEST_DATABASE_URL="postgresql://unused-while-collecting/")
    assert MARKED not in files
    assert UNMARKED in files
