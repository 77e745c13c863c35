"""The running API keeps the promises of the document it serves, for inputs nobody thought of.

Schemathesis's command line (`st run`) fuzzes the /openapi.json that the Procfile's web process
serves, itself and not a copy: every phase (examples, coverage, fuzzing, stateful; the quick
budget of `make test` leaves out coverage) and the default checks, among them that
schema-valid data is accepted and schema-violating data refused. It runs from the project
root, so it reads schemathesis.toml, whose hooks (tests/contract_hooks.py) sign the fuzzer in
and drop exactly the failures of the two rules the document can only state in words. A failure
prints Schemathesis's report, with the seed and a curl command that reproduces it.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.process.conftest import PROJECT_ROOT, VENV_BIN, Databases, Processes, environment

pytestmark = pytest.mark.no_shared_db

# The budget. Full (TEST_FUZZ=full, as `make ci` sets): every phase, 25 cases per operation and
# phase, a new seed each run; enough to find a mismatch in a field's rules, few enough for CI
# (about a minute on two busy cores; 100, Schemathesis's default, about 2.5). Quick (`make
# test`): a few cases with a fixed seed, the same each run, and no coverage phase, whose
# boundary cases take 18 of the full run's seconds whatever the case count.
FULL = ["--phases=examples,coverage,fuzzing,stateful", "--max-examples=25"]
QUICK = ["--phases=examples,fuzzing,stateful", "--max-examples=5", "--seed=25"]
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
RUN_TIMEOUT = 900  # seconds; a hung run fails instead of holding CI


def budget() -> list[str]:
    return FULL if os.environ.get("TEST_FUZZ") == "full" else QUICK


def test_st_run_with_every_phase_finds_nothing_the_document_does_not_excuse(
    processes: Processes, databases: Databases
) -> None:
    web = processes.web(environment(DATABASE_URL=databases.create()))
    run = subprocess.run(  # noqa: S603 - our own command line
        [
            str(VENV_BIN / "st"),
            "run",
            f"http://127.0.0.1:{web.port}/openapi.json",
            *budget(),
            # One request at a time: concurrent writers meet the embedded SQLite's file lock.
            "--workers=1",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    document = web.request("GET", "/openapi.json").json()
    operations = sum(
        method in HTTP_METHODS for item in document["paths"].values() for method in item
    )
    assert f"Tested: {operations}\n" in report, report  # every operation, none skipped
