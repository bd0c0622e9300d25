"""A test run leaves the checkout as it found it."""

from __future__ import annotations

from pathlib import Path

from hypothesis import settings
from hypothesis.configuration import storage_directory
from hypothesis.database import DirectoryBasedExampleDatabase

CHECKOUT = Path(__file__).resolve().parent.parent


def test_hypothesis_keeps_its_examples_outside_the_checkout() -> None:
    home = storage_directory(intent_to_write=False).path.resolve()
    assert not home.is_relative_to(CHECKOUT)
    database = settings().database
    if isinstance(database, DirectoryBasedExampleDatabase):
        assert not Path(database.path).resolve().is_relative_to(CHECKOUT)
