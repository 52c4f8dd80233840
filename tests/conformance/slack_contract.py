"""What Slack publishes about the requests videobot sends it, as checks over the fake Slack's
record: Block Kit and views through slack_sdk's own model validators, `file_input.max_files`
(1-10, documented but not validated there), message text lengths, and the escaping rule: in
every text Slack parses, `<` opens only a mention we meant and `&` only starts an entity."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.attachments import Attachment
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from tests.fakes.slack_web_api import Call

MESSAGE_TEXT_LIMIT = 40_000  # chat.postMessage `text`; Slack truncates longer messages
MAX_FILES = range(1, 11)  # file_input.max_files
# Requests the bot makes that carry no Slack payload of ours (bytes, downloads, socket acks).
_NOT_PAYLOADS = frozenset({"upload", "file", "redirect", "socket_ack", "response_answered"})
_BARE_AMPERSAND = re.compile(r"&(?!amp;|lt;|gt;)")
_CONTROL = re.compile(r"<[^<>]*>?")


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def payload_blocks(params: dict[str, Any]) -> list[dict[str, Any]]:
    return list(_json(params.get("blocks")) or [])


def payload_view(params: dict[str, Any]) -> dict[str, Any] | None:
    view = _json(params.get("view"))
    return view if isinstance(view, dict) else None


def _mrkdwn_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            yield node["text"]
        for value in node.values():
            yield from _mrkdwn_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from _mrkdwn_in(item)


def parsed_texts(params: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, text) for every text Slack parses for mentions and links in one request."""
    found = [
        (key, params[key])
        for key in ("text", "initial_comment")
        if isinstance(params.get(key), str)
    ]
    found += [("blocks", text) for text in _mrkdwn_in(payload_blocks(params))]
    found += [("view", text) for text in _mrkdwn_in(payload_view(params))]
    return found


def escaping_problems(where: str, text: str, mentions: Iterable[str]) -> list[str]:
    allowed = set(mentions)
    problems = [f"{where}: a bare or cut `&` in {text!r}"] if _BARE_AMPERSAND.search(text) else []
    live = _CONTROL.findall(text)
    problems += [f"{where}: live {seq!r} in {text!r}" for seq in live if seq not in allowed]
    problems += [
        f"{where}: {m!r} live {live.count(m)} times in {text!r}"
        for m in allowed
        if live.count(m) > 1
    ]
    return problems


def _model_problems(where: str, kind: str, build: Any, raw: dict[str, Any]) -> list[str]:
    try:
        model = build(raw)
        if model is None:
            return [f"{where}: slack_sdk does not know {kind} {raw.get('type')!r}"]
        model.validate_json()
        model.to_dict()  # validates every nested element and text object too
    except (SlackObjectFormationError, TypeError, KeyError) as err:
        return [f"{where}: {kind} {raw.get('type')!r}: {err}"]
    return []


def _max_files_problems(where: str, blocks: list[dict[str, Any]]) -> list[str]:
    elements = [b.get("element") or {} for b in blocks if b.get("type") == "input"]
    return [
        f"{where}: file_input.max_files {e.get('max_files')!r} is outside 1-10"
        for e in elements
        if e.get("type") == "file_input" and e.get("max_files", 10) not in MAX_FILES
    ]


def call_problems(call: Call, mentions: Iterable[str] = ()) -> list[str]:
    """Everything in one recorded request that breaks Slack's published contract."""
    if call.method in _NOT_PAYLOADS:
        return []
    where, params = call.method, call.params
    problems: list[str] = []
    blocks = payload_blocks(params)
    for block in blocks:
        problems += _model_problems(where, "block", Block.parse, block)
    problems += _max_files_problems(where, blocks)
    for attachment in _json(params.get("attachments")) or []:
        problems += _model_problems(where, "attachment", lambda a: Attachment(**a), attachment)
    view = payload_view(params)
    if view is not None:
        problems += _model_problems(where, "view", lambda v: View(**v), view)
        problems += _max_files_problems(where, list(view.get("blocks") or []))
    text = params.get("text")
    if isinstance(text, str) and len(text) > MESSAGE_TEXT_LIMIT:
        problems.append(f"{where}: text of {len(text)} characters")
    for field, value in parsed_texts(params):
        problems += escaping_problems(f"{where}.{field}", value, mentions)
    return problems


def problems(calls: Iterable[Call], mentions: Iterable[str] = ()) -> list[str]:
    allowed = tuple(mentions)
    return [problem for call in calls for problem in call_problems(call, allowed)]
