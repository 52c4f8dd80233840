"""Text that came from a user or a provider is inert in every Slack request: `<!channel>`,
`<!here>`, `<@U...>`, `<#C...>` and disguised links `<https://evil|slack.com>` are escaped in
the status message, its edits, the upload's comment, the answers and the link fallback; the
requester's own mention, which the bot writes, stays live; clipping never cuts an entity."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from adapters.slack.blocks import status_blocks, status_text
from adapters.slack.mrkdwn import escape, inert, inert_but_mention
from bot.domain import TaskState
from bot.messages import StatusView
from tests.conformance.slack_contract import parsed_texts, problems
from tests.fakes.slack_harness import USER, SlackHarness, png_bytes
from tests.fakes.slack_server import BOT_USER

MINE = f"<@{USER}>"
HOSTILE = (
    "a fox <!channel> <!here> <!everyone> <@U0BOB> <#C0SECRET> <!subteam^S0ADMINS> "
    f"<https://evil.example|slack.com> {MINE} fish & chips &lt;b&gt; *bold* `code` > quote"
)
LIVE = ("<!channel>", "<!here>", "<!everyone>", "<@U0BOB>", "<#C0SECRET>", "<!subteam", "<https:")


def _live_in(texts: list[tuple[str, str]]) -> list[str]:
    return [f"{field}: {seq}" for field, text in texts for seq in LIVE if seq in text]


async def test_a_hostile_prompt_is_inert_in_every_request_the_bot_sends(
    slack: SlackHarness,
) -> None:
    await slack.command(HOSTILE)
    await slack.wait_responses(1)
    (task,) = await slack.tasks()
    for text in ("list", f"status {task.ref}"):
        count = len(slack.responses())
        await slack.command(text)
        await slack.wait_responses(count + 1)
    await slack.run_until_idle()
    done = await slack.ledger.get(task.ref)
    assert done is not None and done.state is TaskState.DELIVERED

    sent = [c for c in slack.fake.calls if parsed_texts(c.params)]
    methods = {c.method for c in sent}
    assert {"response", "chat.postMessage", "chat.update"} <= methods
    assert "files.completeUploadExternal" in methods
    texts = [t for c in sent for t in parsed_texts(c.params)]
    assert _live_in(texts) == []
    assert problems(slack.fake.calls, [MINE]) == []
    # Escaped, not dropped: Slack shows the prompt as typed...
    (comment,) = [
        c.params["initial_comment"] for c in slack.fake.named("files.completeUploadExternal")
    ]
    assert "&lt;!channel&gt;" in comment and "fish &amp; chips &lt;b&gt;" in comment
    # ...and the requester's mention the bot writes itself is still live, once.
    assert comment.startswith(MINE) and comment.count(MINE) == 1
    final = slack.fake.messages[done.status_message_id or ""]
    summary = final.blocks[1]["elements"][0]["text"]
    assert summary.endswith(f"requested by {MINE}") and summary.count(MINE) == 1


async def test_a_file_name_in_an_answer_is_inert(slack: SlackHarness) -> None:
    slack.fake.files_read = False
    image = slack.fake.add_user_file("<!channel>.png", "image/png", png_bytes())
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": USER,
        "text": f"<@{BOT_USER}> the cat waves",
        "ts": "1690000001.000100",
        "channel": "C0GENERAL",
        "files": [image],
    }
    await slack.event(event, "Ev0NAME")
    await slack.fake.wait_for(lambda: bool(slack.fake.named("chat.postEphemeral")))
    (warning,) = slack.fake.named("chat.postEphemeral")
    assert "&lt;!channel&gt;.png" in warning.params["text"]
    assert "<!channel>" not in warning.params["text"]


def _view(**changes: Any) -> StatusView:
    base = StatusView(
        ref="ABC123",
        state="failed",
        prompt="p",
        headline="❌ Failed",
        summary="“p” · 6s",
        detail="",
        progress=None,
        buttons=(),
        final=True,
    )
    return replace(base, **changes)


def test_provider_text_in_the_detail_is_inert() -> None:
    view = _view(detail="Reason given: <!channel> see <https://evil|slack.com> & retry.")
    texts = [("blocks", str(b)) for b in status_blocks(view, MINE)]
    texts.append(("text", status_text(view, MINE)))
    assert _live_in(texts) == []
    assert "&lt;!channel&gt;" in str(status_blocks(view, MINE))


@pytest.mark.parametrize("char", ["&", "<", ">", "é", "🦊"])
def test_clipping_counts_the_escaped_text_and_never_cuts_an_entity(char: str) -> None:
    view = _view(summary="“" + char * 4000 + "” · requested by " + MINE, detail=char * 5000)
    for block in status_blocks(view, MINE):
        for text in re.findall(r"'text': '([^']*)'", str(block)):
            assert len(text) <= 3000
            assert not re.search(r"&(?!amp;|lt;|gt;)", text)
    summary = status_blocks(view, MINE)[1]["elements"][0]["text"]
    assert summary.endswith(MINE) and "…" in summary
    assert len(status_text(view, MINE)) <= 3000


def test_escape_and_clip_rules() -> None:
    assert escape("a & <b> &amp;") == "a &amp; &lt;b&gt; &amp;amp;"
    assert inert("&&&&", 10) == "&amp;…"  # 2 x 5 > 9: one entity, never `&am`
    assert inert("ok", 2) == "ok"
    assert inert_but_mention(f"“{MINE}” · by {MINE}", MINE, 100) == (
        f"“&lt;@{USER}&gt;” · by {MINE}"
    )
    assert inert_but_mention("<@U1|spoof>", "<@U1|spoof>", 100) == "&lt;@U1|spoof&gt;"


async def test_text_slack_sent_escaped_is_read_as_typed_and_shown_as_typed(
    slack: SlackHarness,
) -> None:
    # Slack escapes what a user types: "fish & chips <b>" arrives as below.
    await slack.command("fish &amp; chips &lt;b&gt;")
    await slack.event(
        {
            "type": "app_mention",
            "user": USER,
            "text": f"<@{BOT_USER}> salt &amp; vinegar",
            "ts": "1690000001.000100",
            "channel": "C0GENERAL",
        },
        "Ev0AMP",
    )
    await slack.wait_responses(1)
    tasks = await slack.settle()
    assert sorted(t.request.prompt for t in tasks) == ["fish & chips <b>", "salt & vinegar"]
    await slack.run_until_idle()
    comments = sorted(
        c.params["initial_comment"] for c in slack.fake.named("files.completeUploadExternal")
    )
    assert "“fish &amp; chips &lt;b&gt;”" in comments[0]  # shown once escaped, not twice
    assert "“salt &amp; vinegar”" in comments[1]
