"""The package's layers import only downwards (the import-linter contract in pyproject.toml):

    app -> sklearn -> persist -> models -> train | data -> nn -> base

The contract is checked on the installed tree, and shown to catch an upward import planted in
a copy of it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nnscratch

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def _lint(src_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(src_dir)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layers_contract_holds():
    result = _lint(Path(nnscratch.__file__).parents[1])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    shutil.copytree(Path(nnscratch.__file__).parent, tmp_path / "nnscratch")
    activations = tmp_path / "nnscratch" / "nn" / "activations.py"
    activations.write_text(
        activations.read_text() + "\nfrom nnscratch.app import plots  # planted\n"
    )
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "nnscratch.nn is not allowed to import nnscratch.app" in result.stdout
