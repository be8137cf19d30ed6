"""Shared fixtures of the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def shared_data_path() -> Path:
    """Where the cat data files are: $NNSCRATCH_TEST_DATA, else ../shared/data beside the repo."""
    env = os.environ.get("NNSCRATCH_TEST_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def cat_data_dir() -> Path:
    """The directory holding train_catvnoncat.h5 and test_catvnoncat.h5 (read-only!).

    Skips the test when the files are absent. Tests that modify or download files must copy
    them into tmp_path first.
    """
    path = shared_data_path()
    names = ("train_catvnoncat.h5", "test_catvnoncat.h5")
    if not all((path / name).is_file() for name in names):
        pytest.skip(f"cat data files {names} not found in {path} (set NNSCRATCH_TEST_DATA)")
    return path
