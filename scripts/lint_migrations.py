"""Refuse destructive operations in a migration that does not declare itself a contract step.

Migrations are expand/contract (README, "Releases and rollback"): an expand step keeps the
previous release's code working, so a rollback only changes the image. A migration that
drops or renames a table or column, adds a NOT NULL column (or makes one NOT NULL) without a
server default, or narrows a column's type breaks that code, and must say so with a
module-level ``phase = "contract"``. ``flask release check-rollback`` reads the same line.

Usage: python scripts/lint_migrations.py [migrations/versions ...]; exit 1 on findings.
Only ``upgrade()`` is read: a downgrade undoes an expand step, so it is destructive by nature.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PHASES = ("expand", "contract")
DROPS = {
    "drop_table": "drops table",
    "drop_column": "drops column",
    "rename_table": "renames table",
}
# Type changes that keep every value the old type could hold.
WIDENINGS = {
    ("SmallInteger", "Integer"),
    ("SmallInteger", "BigInteger"),
    ("Integer", "BigInteger"),
    ("String", "Text"),
    ("Unicode", "UnicodeText"),
    ("Float", "Double"),
    # MySQL's own DATETIME: the same values, and fractions of a second when given fsp.
    ("DateTime", "DATETIME"),
}
SIZE_ARGUMENTS = ("length", "precision", "scale")


def phase_of(tree: ast.Module) -> str | None:
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "phase" for t in node.targets)
            and isinstance(node.value, ast.Constant)
        ):
            return str(node.value.value)
    return None


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def is_false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def describe(call: ast.Call) -> str:
    """The table/column a call names, from its string arguments."""
    names = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return ".".join(names) or "?"


def type_name_and_sizes(node: ast.expr) -> tuple[str, list[int | None]]:
    """sa.String(length=50) -> ("String", [50, None, None]); a bare name -> ("Text", [...])."""
    call = node if isinstance(node, ast.Call) else None
    target = call.func if call else node
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "?")
    sizes: list[int | None] = []
    for index, argument in enumerate(SIZE_ARGUMENTS):
        value = keyword(call, argument) if call else None
        if value is None and call and index < len(call.args):
            value = call.args[index]
        constant = value.value if isinstance(value, ast.Constant) else None
        sizes.append(constant if isinstance(constant, int) else None)
    return name, sizes


def narrows(new: ast.expr, old: ast.expr) -> bool:
    new_name, new_sizes = type_name_and_sizes(new)
    old_name, old_sizes = type_name_and_sizes(old)
    if new_name != old_name:
        return (old_name, new_name) not in WIDENINGS
    for new_size, old_size in zip(new_sizes, old_sizes, strict=True):
        if old_size is None and new_size is not None:
            return True  # unbounded -> bounded
        if old_size is not None and new_size is not None and new_size < old_size:
            return True
    return False


def findings_in_call(call: ast.Call) -> list[str]:
    operation = call.func.attr if isinstance(call.func, ast.Attribute) else ""
    found = []
    if operation in DROPS:
        found.append(f"{DROPS[operation]} {describe(call)}")
    if operation == "alter_column":
        target = describe(call)
        if keyword(call, "new_column_name") is not None:
            found.append(f"renames column {target}")
        if is_false(keyword(call, "nullable")) and keyword(call, "server_default") is None:
            found.append(f"makes column {target} NOT NULL without a server default")
        new_type = keyword(call, "type_")
        if new_type is not None:
            old_type = keyword(call, "existing_type")
            if old_type is None:
                found.append(f"changes the type of {target} without existing_type to compare")
            elif narrows(new_type, old_type):
                found.append(f"narrows the type of {target}")
    if operation == "add_column":
        for column in call.args:
            if (
                isinstance(column, ast.Call)
                and is_false(keyword(column, "nullable"))
                and keyword(column, "server_default") is None
            ):
                found.append(
                    f"adds NOT NULL column {describe(column)} without a server default"
                    + (f" to {describe(call)}" if describe(call) != "?" else "")
                )
    if operation == "execute":
        sql = " ".join(
            a.value.upper()
            for a in call.args
            if isinstance(a, ast.Constant) and isinstance(a.value, str)
        )
        if any(word in sql.split() for word in ("DROP", "RENAME")):
            found.append("runs SQL that drops or renames")
    return found


def lint(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    phase = phase_of(tree)
    if phase is not None and phase not in PHASES:
        return [f"{path}: phase = {phase!r}; use 'contract' (or leave it out for an expand step)"]
    if phase == "contract":
        return []
    upgrade = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None
    )
    calls = sorted(
        (n for n in ast.walk(upgrade) if isinstance(n, ast.Call)) if upgrade else (),
        key=lambda call: call.lineno,
    )
    return [
        f"{path}:{call.lineno}: {finding}" for call in calls for finding in findings_in_call(call)
    ]


def main(argv: list[str]) -> int:
    folders = [Path(a) for a in argv] or [
        Path(__file__).resolve().parents[1] / "migrations/versions"
    ]
    problems = [p for folder in folders for f in sorted(folder.glob("*.py")) for p in lint(f)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            "\nThese operations break the previous release's code, so rolling back to it would "
            "fail. Split the change (expand now, contract a release later) and mark the contract "
            'migration with a module-level line: phase = "contract"',
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
