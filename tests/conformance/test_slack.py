"""Slack conformance: every request the bot sends to the fake Slack across its flows (slash
command, buttons, modals, the shortcut, file events, the upload, status edits, errors) and a
worst-case prompt is checked against what Slack publishes (slack_sdk's Block Kit and view
validators, documented limits, the escaping rule); slack-manifest.yml against Slack's manifest
JSON Schema. The last tests break one rule each, to show the checks bite."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from bot.domain import Profile, TaskState
from tests.conformance.slack_contract import call_problems, problems
from tests.fakes.slack_harness import CHANNEL, USER, SlackHarness, png_bytes
from tests.fakes.slack_server import BOT_USER
from tests.fakes.slack_web_api import Call
from tests.paths import ROOT

# The platforms' published contracts sit in `shared/` next to the checkout (a git worktree
# sits one level deeper).
SPECS = next(p / "shared" / "specs" for p in ROOT.parents if (p / "shared" / "specs").is_dir())
MINE = f"<@{USER}>"
_NASTY = (
    "🦊🎬 a fox <!channel> <!here> @everyone @here <@U0BOB> <#C0SECRET> <!subteam^S0ADMINS>\n"
    "<https://evil.example|slack.com> [click](https://evil.example) *bold* _it_ ~s~ `code`\n"
    "```block``` > quote & <b> 1<2 👩‍👩‍👧‍👦 "
)
CAP = Profile().prompt_max_chars
WORST = (_NASTY * (CAP // len(_NASTY) + 1))[:CAP]


def _view_of(slack: SlackHarness, index: int = -1) -> dict[str, Any]:
    view = slack.fake.named("views.open")[index].params["view"]
    return view if isinstance(view, dict) else dict(json.loads(view))


async def test_the_worst_case_prompt_conforms_in_every_request(slack: SlackHarness) -> None:
    assert len(WORST) == CAP and "\n" in WORST
    await slack.command(WORST)
    await slack.wait_responses(1)
    (task,) = await slack.tasks()
    assert len(task.request.prompt) == CAP  # at the cap, accepted
    for text in ("list", f"status {task.ref}", "help", f"cancel {task.ref}", f"{WORST} --ar 4:3"):
        count = len(slack.responses())
        await slack.command(text)
        await slack.wait_responses(count + 1)
    await slack.run_until_idle()
    done = await slack.ledger.get(task.ref)
    assert done is not None and done.state is TaskState.CANCELLED
    count = len(slack.responses())
    await slack.button("retry", task.ref, done.status_message_id or "")
    await slack.wait_responses(count + 1)
    await slack.run_until_idle()

    methods = {c.method for c in slack.fake.calls}
    assert {"response", "chat.postMessage", "chat.update", "files.completeUploadExternal"} <= (
        methods
    )
    assert problems(slack.fake.calls, [MINE]) == []


async def test_modals_the_shortcut_and_events_conform(slack: SlackHarness) -> None:
    await slack.command("")  # the new-video modal
    await slack.fake.wait_for(lambda: bool(slack.fake.named("views.open")))
    image = slack.fake.add_user_file("<!here> & co.png", "image/png", png_bytes())
    await slack.submit_view(
        {**_view_of(slack), "id": "V0WORST"},
        {"prompt": WORST, "ar": ("s", "9:16"), "duration": ("s", "6"), "files": [image]},
    )
    await slack.settle()
    await slack.interactive(
        {
            "type": "message_action",
            "callback_id": "videobot_animate",
            "trigger_id": "trig.s",
            "response_url": f"{slack.fake.url}/response/short",
            "user": {"id": USER, "team_id": "T0TEAM"},
            "channel": {"id": CHANNEL},
            "message": {
                "type": "message",
                "user": "U0BOB",
                "ts": "1690000000.000200",
                "text": "look",
                "files": [image],
            },
        }
    )
    await slack.fake.wait_for(lambda: len(slack.fake.named("views.open")) == 2)
    slack.fake.files_read = False  # the mention's download fails: an answer naming the file
    await slack.event(
        {
            "type": "app_mention",
            "user": USER,
            "text": f"<@{BOT_USER}> {WORST}",
            "ts": "1690000001.000100",
            "channel": CHANNEL,
            "files": [image],
        },
        "Ev0WORST",
    )
    await slack.fake.wait_for(lambda: bool(slack.fake.named("chat.postEphemeral")))
    slack.fake.files_read = True
    await slack.run_until_idle()

    assert len(slack.fake.named("files.completeUploadExternal")) == 1
    assert problems(slack.fake.calls, [MINE]) == []


# -- the manifest ----------------------------------------------------------------------------
def _manifest_validator() -> jsonschema.Draft7Validator:
    """The root schema, its versioned schemas served from the local copies (specs/README.md)."""
    root = json.loads((SPECS / "manifest.schema.json").read_text())
    registry: Registry[Any] = Registry()
    for version in ("1.0.0", "2.0.0"):
        schema = json.loads((SPECS / f"manifest.schema.{version}.json").read_text())
        url = (
            "https://raw.githubusercontent.com/slackapi/manifest-schema/v0.5.0/schemas/"
            f"manifest.schema.{version}.json"
        )
        assert url in json.dumps(root)
        registry = registry.with_resource(url, Resource.from_contents(schema))
    return jsonschema.Draft7Validator(root, registry=registry)


def _manifest(distributed: bool = False) -> dict[str, Any]:
    """The manifest as shipped (Socket Mode), or as its comments say to change it for an app
    other workspaces install (HTTP URLs and the OAuth redirect URL uncommented)."""
    text = (ROOT / "slack-manifest.yml").read_text()
    if distributed:
        text = re.sub(r"(?m)^(\s*)# ((?:request_)?url: https://|redirect_urls:)", r"\1\2", text)
        text = re.sub(r"(?m)^(\s*)#   (- https://)", r"\1  \2", text)
        text = text.replace("socket_mode_enabled: true", "socket_mode_enabled: false")
        text = text.replace("token_rotation_enabled: false", "token_rotation_enabled: true")
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize("distributed", [False, True], ids=["socket-mode", "distributed"])
def test_the_manifest_matches_slacks_manifest_schema(distributed: bool) -> None:
    manifest = _manifest(distributed)
    errors = [e.message for e in _manifest_validator().iter_errors(manifest)]
    assert errors == []
    if distributed:
        assert manifest["oauth_config"]["redirect_urls"] == [
            "https://videobot.example.com/slack/oauth_redirect"
        ]
        events = manifest["settings"]["event_subscriptions"]
        assert events["request_url"] == "https://videobot.example.com/slack/events"
        assert {"app_uninstalled", "tokens_revoked"} <= set(events["bot_events"])


# -- the checks bite -------------------------------------------------------------------------
def _post(**params: Any) -> Call:
    return Call("/api/chat.postMessage", "chat.postMessage", "127.0.0.1", None, params)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _modal(**changes: Any) -> dict[str, Any]:
    view = {
        "type": "modal",
        "callback_id": "v",
        "title": {"type": "plain_text", "text": "New"},
        "blocks": [_section("ok")],
    }
    return {**view, **changes}


def _files_input(max_files: int) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": "f",
        "label": {"type": "plain_text", "text": "Files"},
        "element": {"type": "file_input", "action_id": "f", "max_files": max_files},
    }


@pytest.mark.parametrize(
    ("call", "complaint"),
    [
        (_post(text="x", blocks=[_section("a" * 3001)]), "text attribute cannot exceed 3000"),
        (
            _post(
                text="x",
                blocks=[
                    {
                        "type": "actions",
                        "elements": [
                            {
                                "type": "button",
                                "action_id": "b",
                                "text": {"type": "plain_text", "text": "b" * 76},
                            }
                        ],
                    }
                ],
            ),
            "text attribute cannot exceed 75",
        ),
        (_post(text="x", blocks=[{"type": "no_such_block"}]), "does not know block"),
        (_post(text="x" * 40_001), "text of 40001 characters"),
        (_post(text="hi <!channel>"), "live '<!channel>'"),
        (_post(text="hi", blocks=[_section("<https://evil|slack.com>")]), "live '<https"),
        (_post(text="fish & chips"), "bare or cut `&`"),
        (_post(text="clipped &am…"), "bare or cut `&`"),
        (_post(text=f"{MINE} and {MINE}"), "live 2 times"),
        (_post(text="x", blocks=[_files_input(11)]), "max_files 11"),
        (
            Call(
                "/api/views.open",
                "views.open",
                "h",
                None,
                {"view": _modal(title={"type": "plain_text", "text": "t" * 25})},
            ),
            "title must be between 1 and 24",
        ),
        (
            Call(
                "/api/views.open",
                "views.open",
                "h",
                None,
                {"view": _modal(blocks=[_files_input(0)])},
            ),
            "max_files 0",
        ),
        (Call("/response/h", "response", "h", None, {"text": "<@U0BOB>"}), "live '<@U0BOB>'"),
        (
            Call(
                "/api/files.completeUploadExternal",
                "files.completeUploadExternal",
                "h",
                None,
                {"initial_comment": "<!here>"},
            ),
            "live '<!here>'",
        ),
    ],
)
def test_a_payload_that_breaks_the_contract_is_caught(call: Call, complaint: str) -> None:
    found = call_problems(call, [MINE])
    assert any(complaint in p for p in found), found


def test_a_manifest_that_breaks_the_schema_is_caught(tmp_path: Path) -> None:
    manifest = _manifest()
    manifest["features"]["slash_commands"][0]["command"] = "video"  # must start with a slash
    manifest["settings"]["socket_mode_enabled"] = "yes"
    errors = [e.message for e in _manifest_validator().iter_errors(manifest)]
    assert errors != []
