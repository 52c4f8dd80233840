"""slack-manifest.yml asks for exactly what the adapter uses: its command, shortcut and events
are the ones register_listeners wires, and its bot scopes are the expected minimal set."""

from __future__ import annotations

import re

from adapters.slack import blocks
from tests.paths import ROOT

MANIFEST = ROOT / "slack-manifest.yml"


def _list_after(text: str, key: str) -> set[str]:
    """The `- item` lines of the YAML list under `key:` (comments dropped)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"{key}:")
    items: set[str] = set()
    for line in lines[start + 1 :]:
        bare = line.split("#", 1)[0].strip()
        if not bare:
            continue
        if not bare.startswith("- "):
            break
        items.add(bare[2:].strip())
    return items


def test_manifest_scopes_events_command_and_shortcut() -> None:
    text = MANIFEST.read_text()
    assert _list_after(text, "bot") == {
        "commands",
        "chat:write",
        "chat:write.public",
        "files:write",
        "files:read",
        "app_mentions:read",
        "channels:history",
        "groups:history",
    }
    from adapters.ops.chat_probe import manifest_scopes

    assert manifest_scopes() == _list_after(text, "bot")  # `videobot doctor` reads the same list
    assert _list_after(text, "bot_events") == {
        "app_mention",
        "message.channels",
        "message.groups",
        "app_uninstalled",
        "tokens_revoked",
    }
    from adapters.slack.install import BOT_SCOPES, REDIRECT_PATH

    assert set(BOT_SCOPES) == _list_after(text, "bot")  # what an installing workspace grants
    assert f"#   - https://videobot.example.com{REDIRECT_PATH}\n" in text
    assert re.search(r"- command: /video\n", text)
    assert f"callback_id: {blocks.ANIMATE_SHORTCUT}\n" in text
    assert "type: message\n" in text
    assert re.search(r"interactivity:\n\s+is_enabled: true", text)
