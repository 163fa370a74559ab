"""The house rules of the package's layout, checked by ``./run test``.

- No module of ``django_saga``, ``benchmarks`` or ``example_project`` is over
  ``MAX_LINES`` lines: a module is about one idea and fits on a few screens.
- Every module of ``django_saga`` with logic has its unit tests where its path
  says: ``django_saga/stores/memory.py`` in ``tests/unit/stores/test_memory.py``.
  A module without logic of its own is named in ``NO_LOGIC`` with the reason.

Prints each breach and exits 1 if there is any.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400
PACKAGES = ("django_saga", "benchmarks", "example_project")

#: Modules whose behaviour is tested where it shows, with the reason.
NO_LOGIC = {
    "django_saga/apps.py": "wiring: its permissions handler is tested in actions/",
    "django_saga/signals.py": "declarations: sent and received in the flow's tests",
    "django_saga/api.py": "the manager composed of its roles: client, actions, lifecycle",
    "django_saga/management/commands/saga.py": "wiring: its subcommands are operator_cli/",
}


def modules(package: str) -> list[Path]:
    return sorted(
        path
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and "__pycache__" not in path.parts
    )


def too_long() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in modules(package):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                found.append(f"{path.relative_to(ROOT)}: {lines} lines (at most {MAX_LINES})")
    return found


def untested() -> list[str]:
    found = []
    for path in modules("django_saga"):
        name = str(path.relative_to(ROOT))
        if path.name == "__init__.py" or name in NO_LOGIC:
            continue
        inner = path.relative_to(ROOT / "django_saga")
        expected = ROOT / "tests" / "unit" / inner.parent / f"test_{path.name}"
        if not expected.exists():
            found.append(f"{name}: no {expected.relative_to(ROOT)}")
    return found


def main() -> int:
    breaches = too_long() + untested()
    for breach in breaches:
        print(breach)
    stale = [name for name in NO_LOGIC if not (ROOT / name).exists()]
    for name in stale:
        print(f"{name}: named in NO_LOGIC but gone")
    if breaches or stale:
        return 1
    print(f"layout: no module over {MAX_LINES} lines; every module with logic has its tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
