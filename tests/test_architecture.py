"""The architecture is a checked contract: lint-imports keeps the rooms' import direction true,
and breaks when someone adds an import a contract forbids."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINT = (
    "import sys; from importlinter.cli import lint_imports_command; "
    "sys.argv[0] = 'lint-imports'; lint_imports_command()"
)


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the labctl package under ``root/src``, with ``root``'s contracts."""
    return subprocess.run(
        [sys.executable, "-P", "-c", LINT, "--no-logo", "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_of_the_source(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "src" / "labctl", tmp_path / "src" / "labctl")
    return tmp_path


def test_the_contracts_hold(tmp_path: Path) -> None:
    done = lint_imports(copy_of_the_source(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        (
            "report/json.py",
            "import labctl.backends.local",
            "labctl.report is not allowed to import labctl.backends",
        ),
        ("grading/expect.py", "import locust", "labctl.grading is not allowed to import locust"),
        (
            "model/lab.py",
            "import labctl.environment",
            "labctl.model is not allowed to import labctl.environment",
        ),
    ],
    ids=["reporter-imports-a-backend", "locust-outside-the-load-workers", "model-imports-upwards"],
)
def test_a_forbidden_import_breaks_them(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    root = copy_of_the_source(tmp_path)
    source = root / "src" / "labctl" / module
    source.write_text(source.read_text() + f"\n{line}  # noqa\n")
    done = lint_imports(root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert broken in done.stdout
