"""`.env.example` is the README's settings table as a file to copy: every setting, its default
and its meaning, nothing set. Regenerate it with `python -m tests.test_env_example`."""

from __future__ import annotations

import re

from tests.paths import ROOT
from tests.test_settings import README

_TICKED = re.compile(r"`([^`]*)`")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")


def _plain(markdown: str) -> str:
    return _LINK.sub(r"\1", markdown).replace("`", "")


def expected() -> str:
    text = README.read_text(encoding="utf-8").split("\n## Settings\n", 1)[1]
    rows = [line for line in text.split("\n## ", 1)[0].splitlines() if line.startswith("| `")]
    out = [
        "# videobot settings: copy to .env and fill in what you use (README: Settings).",
        "# Each line shows the default; a line left commented keeps it. Never commit .env.",
        "",
    ]
    for row in rows:
        variable, default, _, meaning = (cell.strip() for cell in row.strip("|").split(" | "))
        values = _TICKED.findall(default) if default.startswith("`") else []
        for i, name in enumerate(_TICKED.findall(variable)):
            value = values[i] if i < len(values) else ""
            note = "" if values or default in ("—", "") else f" (default: {_plain(default)})"
            out.append(f"# {_plain(meaning)}{note}")
            out.append(f"# {name}={value}")
            out.append("")
    return "\n".join(out)


def test_the_example_env_file_is_the_settings_table() -> None:
    assert (ROOT / ".env.example").read_text(encoding="utf-8") == expected(), (
        "regenerate it: python -m tests.test_env_example"
    )


if __name__ == "__main__":
    (ROOT / ".env.example").write_text(expected(), encoding="utf-8")
