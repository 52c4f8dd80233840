"""Every storage test that takes `ledger` runs on both backends (tests/ledgers.py)."""

from tests.ledgers import *  # noqa: F403
