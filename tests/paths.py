"""Where the suite's files live, for tests at any depth of the mirrored tree."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
PAYLOADS = TESTS / "payloads"
