"""The layers of docs/architecture.md hold: the contracts in pyproject.toml ([tool.importlinter]),
checked by import-linter, and no layer below the application imports the worker module."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    beside = Path(sys.executable).parent / "lint-imports"  # the venv's, also when it is not on PATH
    lint = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert lint, "import-linter is missing: pip install -e '.[test]'"
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_only_application_services_import_the_worker_module():
    """`worker.py` is a module, not a package, so import-linter cannot name it: checked here."""
    offenders = []
    for package in ("banjian", "api", "activities", "workflows"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
                if any(n == "worker" or n.startswith("worker.") for n in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
