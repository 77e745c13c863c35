"""No silent breaking change: openapi.json against the previous release's.

    python scripts/api_diff.py        (in the repository to check; `make api-diff` runs it)

The previous release is scripts/previous-release.sh's commit (N1_BASE, else the latest tag,
else HEAD~1). Optic's breaking-change rules (optic.yml; pinned in package.json, run offline)
compare the two documents: a removed or renamed operation, field or enum value, a newly
required request field or a narrowed type fails the check, unless api-breaks.toml declares a
break, on each operation it touches, for this release's version (pyproject.toml, which is
also the document's info.version) and that version is a breaking bump over the previous
release's: its major version, or its minor one before 1.0.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

TOOLS = Path(__file__).resolve().parents[1]  # where package.json installed Optic
OPTIC = TOOLS / "node_modules" / ".bin" / "optic"
OFFLINE = {"OPTIC_TELEMETRY_LEVEL": "off", "NO_UPDATE_NOTIFIER": "1"}
DOCUMENT = "openapi.json"
BREAKS = "api-breaks.toml"
# "x POST /api/v1/auth/token:" heads the failed checks of one operation in Optic's report.
BROKEN_OPERATION = re.compile(r"x ([A-Z]+ \S+):")


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed command line
        ["git", *args],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def previous_release() -> str | None:
    found = subprocess.run(  # noqa: S603 - our own script
        ["bash", str(TOOLS / "scripts" / "previous-release.sh")],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return found.stdout.strip() or None


def version_of(pyproject: str) -> str:
    return str(tomllib.loads(pyproject)["project"]["version"])


def release(version: str) -> tuple[int, int]:
    major, minor, *_ = (int(part) for part in version.split("."))
    return major, minor


def is_breaking_bump(previous: str, current: str) -> bool:
    """SemVer: a break needs a new major version, or a new minor one while the major is 0."""
    (old_major, old_minor), (new_major, new_minor) = release(previous), release(current)
    if old_major == 0 and new_major == 0:
        return new_minor > old_minor
    return new_major > old_major


def declared_break(version: str) -> dict[str, Any] | None:
    path = Path(BREAKS)
    if not path.exists():
        return None
    for entry in tomllib.loads(path.read_text()).get("break", []):
        if entry.get("version") == version:
            return dict(entry)
    return None


def operation_ids(document: str) -> dict[str, str]:
    """``METHOD path`` -> operationId: the names generated clients give their functions."""
    paths = json.loads(document).get("paths", {})
    return {
        f"{method.upper()} {path}": operation["operationId"]
        for path, item in paths.items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }


def renamed_operations(previous: str, current: str) -> list[str]:
    """Operations whose operationId changed (Optic's rules do not look at ids)."""
    before, after = operation_ids(previous), operation_ids(current)
    return [
        f"x {where}: operationId {name!r} renamed to {after[where]!r}"
        for where, name in before.items()
        if where in after and after[where] != name
    ]


def main() -> int:
    base = previous_release()
    if base is None:
        print("== API: no previous release in this clone (shallow?): nothing to compare")
        return 1 if os.environ.get("CI") == "true" else 0
    shown = git("show", f"{base}:{DOCUMENT}")
    if shown.returncode != 0:
        print(f"== API: {base[:7]} has no {DOCUMENT}: nothing to compare")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        previous = Path(scratch) / "previous.json"
        previous.write_text(shown.stdout)
        diff = subprocess.run(  # noqa: S603 - the pinned tool
            [str(OPTIC), "diff", str(previous), DOCUMENT, "--check"],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, **OFFLINE},
            check=False,
        )
    # A failed check is exit 1 with its report; Optic itself failing is never "no break".
    if diff.returncode != 0 and "Checks:" not in diff.stdout:
        print(diff.stdout, diff.stderr, sep="\n", file=sys.stderr)
        print(f"== API: Optic could not compare the documents (exit {diff.returncode})")
        return 1
    renamed = renamed_operations(shown.stdout, Path(DOCUMENT).read_text())
    if diff.returncode == 0 and not renamed:
        print(f"== API: no breaking change against {base[:7]}")
        return 0
    # The failed checks, under the operation each belongs to (Optic marks both with "x").
    failed = [line for line in diff.stdout.splitlines() if line.lstrip().startswith("x ")]
    print("\n".join(failed + renamed))
    old_version = version_of(git("show", f"{base}:pyproject.toml").stdout)
    new_version = version_of(Path("pyproject.toml").read_text())
    declared = declared_break(new_version)
    if declared is None:
        print(
            f"== API: breaking changes against {base[:7]} (above). Undo them, or declare the "
            f"break in {BREAKS} with the version that carries it (now {new_version}; the "
            f"previous release is {old_version})."
        )
        return 1
    if not is_breaking_bump(old_version, new_version):
        print(
            f"== API: {BREAKS} declares this break for {new_version}, which is not a breaking "
            f"bump over {old_version}: raise the major version (the minor one before 1.0) in "
            "pyproject.toml."
        )
        return 1
    broken = {m.group(1) for line in failed + renamed if (m := BROKEN_OPERATION.match(line))}
    undeclared = sorted(broken - set(declared.get("operations", [])))
    if undeclared:
        print(
            f"== API: {BREAKS} declares a break for {new_version}, but not on "
            f"{', '.join(undeclared)}: add them to its operations, with what breaks."
        )
        return 1
    print(f"== API: the breaking changes above are declared for {new_version} in {BREAKS}:")
    print(declared.get("changes", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
