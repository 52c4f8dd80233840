"""The Web API methods the fake Slack answers (chat, conversations, views, files), over its
in-memory workspace, and the records it keeps: every request (`Call`), message and file."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.slack_oauth import Workspace


@dataclass
class Call:
    path: str
    method: str  # Web API method, or "upload" / "response" / "file" / "other"
    host: str
    auth: str | None
    params: dict[str, Any]
    body: bytes = b""
    at: float = 0.0  # FakeSlack.clock() when it arrived
    team: str | None = None  # the workspace whose bot token the request carried


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    edits: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None


@dataclass
class SlackFile:
    id: str
    name: str
    mimetype: str
    data: bytes = b""
    title: str = ""
    uploaded: bool = False
    shares: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    comment: str = ""


class WebApiMethods:
    """`_m_<method>` answers the Web API method <method> (dots as underscores) from `params`."""

    team_id: str
    bot_user_id: str
    url: str
    messages: dict[str, Message]
    files: dict[str, SlackFile]
    _ids: itertools.count[int]

    def auth_test(self, space: Workspace) -> dict[str, Any]:
        """auth.test for the workspace a token belongs to."""
        answer: dict[str, Any] = {
            "ok": True,
            "user_id": space.bot_user_id,
            "bot_id": "B0BOT" if space.team_id == self.team_id else f"B{space.bot_user_id}",
            "team_id": space.team_id,
            "user": "videobot",
            "team": space.name,
            "url": f"https://{space.team_id.lower()}.slack.com/",
            "is_enterprise_install": space.is_enterprise_install,
        }
        if space.enterprise_id:
            answer["enterprise_id"] = space.enterprise_id
        return answer

    def _m_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        ts = f"1700000{next(self._ids):03d}.000100"
        message = Message(
            p["channel"],
            ts,
            p.get("text", ""),
            p.get("blocks") or [],
            p.get("thread_ts"),
            metadata=p.get("metadata"),
        )
        self.messages[ts] = message
        return {"ok": True, "channel": p["channel"], "ts": ts}

    def _listed(self, message: Message, with_metadata: bool) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "type": "message",
            "ts": message.ts,
            "text": message.text,
            "bot_id": "B0BOT",
            "user": self.bot_user_id,
        }
        if message.thread_ts:
            shown["thread_ts"] = message.thread_ts
        if with_metadata and message.metadata:
            shown["metadata"] = message.metadata
        return shown

    history_cap: int | None = None  # 15 for a distributed app outside the Marketplace

    def _page(self, p: dict[str, Any], found: list[Message]) -> dict[str, Any]:
        with_metadata = str(p.get("include_all_metadata", "")).lower() in ("1", "true")
        limit = int(p.get("limit") or 100)
        if self.history_cap is not None:
            limit = min(limit, self.history_cap)
        shown = [self._listed(m, with_metadata) for m in found[:limit]]
        return {"ok": True, "messages": shown, "has_more": len(found) > limit}

    def _m_conversations_history(self, p: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages of a channel, newest first (metadata only when asked)."""
        found = [m for m in self.messages.values() if m.channel == p["channel"] and not m.thread_ts]
        found.sort(key=lambda m: m.ts, reverse=True)
        return self._page(p, found)

    def _m_conversations_replies(self, p: dict[str, Any]) -> dict[str, Any]:
        root = p["ts"]
        found = [
            m
            for m in self.messages.values()
            if m.channel == p["channel"] and root in (m.ts, m.thread_ts)
        ]
        found.sort(key=lambda m: m.ts)
        return self._page(p, found)

    def _m_chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get(p["ts"])
        if message is None or message.channel != p["channel"]:
            return {"ok": False, "error": "message_not_found"}
        message.edits.append(p)
        message.text, message.blocks = p.get("text", ""), p.get("blocks") or []
        return {"ok": True, "channel": p["channel"], "ts": p["ts"]}

    def _m_chat_postEphemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": f"1700009{next(self._ids):03d}.000200"}

    def _m_views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        view = p["view"] if isinstance(p["view"], dict) else json.loads(p["view"])
        return {"ok": True, "view": {**view, "id": f"V{next(self._ids):06d}"}}

    def _m_files_getUploadURLExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        file = SlackFile(f"F{next(self._ids):06d}", p["filename"], "video/mp4")
        self.files[file.id] = file
        return {"ok": True, "file_id": file.id, "upload_url": f"{self.url}/upload/{file.id}"}

    def _m_files_completeUploadExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        done = []
        for entry in json.loads(p["files"]):
            file = self.files.get(entry["id"])
            if file is None or not file.uploaded:
                return {"ok": False, "error": "file_not_found"}
            file.title = entry.get("title", file.name)
            file.comment = p.get("initial_comment", "")
            share = {"ts": f"1700008{next(self._ids):03d}.000300", "thread_ts": p.get("thread_ts")}
            file.shares.setdefault(p["channel_id"], []).append(share)
            done.append({"id": file.id, "title": file.title})
        return {"ok": True, "files": done}

    def _m_files_info(self, p: dict[str, Any]) -> dict[str, Any]:
        file = self.files.get(p["file"])
        if file is None:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "file": self._file_object(file)}

    def _file_object(self, file: SlackFile) -> dict[str, Any]:
        private = f"{self.url}/files-pri/{self.team_id}-{file.id}/{file.name}"
        return {
            "id": file.id,
            "name": file.name,
            "title": file.title,
            "mimetype": file.mimetype,
            "filetype": file.name.rsplit(".", 1)[-1],
            "size": len(file.data),
            "url_private": private,
            "url_private_download": private,
            "shares": {"public": file.shares} if file.shares else {},
        }

    # -- upload URL, response_url, file host, socket -----------------------------------------
