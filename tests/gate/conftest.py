"""Fixtures of the gate tests."""

from pathlib import Path

import pytest
from gitrepos import copyOfThisRepository


@pytest.fixture
def realRepo(tmp_path: Path) -> Path:
    """This repository as it is, in a git repository of its own under tmp_path."""
    return copyOfThisRepository(tmp_path)
