"""An in-memory Chat port that records what a user would see, for core tests. It reconciles
uploads by key exactly as a real adapter must, and can be told to fail."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from bot.domain import ReplyTarget
from bot.errors import DeliveryError, DeliveryTransient
from bot.ledger import Ledger
from bot.messages import StatusView
from bot.ports import Checkpoint, Delivery


@dataclass
class Upload:
    key: str
    target: ReplyTarget
    thread: str | None
    filename: str
    data: bytes
    caption: str


@dataclass
class FakeChat:
    posts: dict[str, list[StatusView]] = field(default_factory=dict)
    uploads: list[Upload] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    upload_failures: list[Exception] = field(default_factory=list)
    update_failures: list[Exception] = field(default_factory=list)

    async def post_status(self, target: ReplyTarget, view: StatusView, key: str) -> str:
        message_id = f"m{len(self.posts) + 1}"
        self.posts[message_id] = [view]
        return message_id

    async def update_status(self, target: ReplyTarget, message_id: str, view: StatusView) -> None:
        if self.update_failures:
            raise self.update_failures.pop(0)
        self.posts[message_id].append(view)

    async def upload_video(
        self,
        target: ReplyTarget,
        status_message_id: str | None,
        delivery: Delivery,
        checkpoint: Checkpoint,
    ) -> str:
        for upload in self.uploads:
            if upload.key == delivery.key:
                return f"file-{upload.key}"
        if self.upload_failures:
            raise self.upload_failures.pop(0)
        self.uploads.append(
            Upload(
                delivery.key,
                target,
                status_message_id,
                delivery.filename,
                await asyncio.to_thread(Path(delivery.path).read_bytes),
                delivery.caption,
            )
        )
        return f"file-{delivery.key}"

    async def post_link(
        self, target: ReplyTarget, status_message_id: str | None, text: str, key: str
    ) -> str:
        self.links.append(text)
        return key

    def last_view(self, message_id: str) -> StatusView:
        return self.posts[message_id][-1]

    def final_views(self) -> list[StatusView]:
        return [views[-1] for views in self.posts.values() if views[-1].final]


@dataclass
class FindingChat(FakeChat):
    """A chat that can find its own status posts by key (as Slack's message metadata and
    Discord's nonce allow). With a ledger it records, at each post, whether the task's row
    already carried the "posting" marker (it must, or a crash could post twice)."""

    ledger: Ledger | None = None
    keys: dict[str, str] = field(default_factory=dict)
    marked_before_post: list[bool] = field(default_factory=list)

    async def post_status(self, target: ReplyTarget, view: StatusView, key: str) -> str:
        if self.ledger is not None:
            row = await self.ledger.get(view.ref)
            if row is not None and row.status_message_id is None:
                self.marked_before_post.append(row.status_posting)
        message_id = await super().post_status(target, view, key)
        self.keys[key] = message_id
        return message_id

    async def find_status(self, target: ReplyTarget, key: str) -> str | None:
        return self.keys.get(key)


__all__ = ["DeliveryError", "DeliveryTransient", "FakeChat", "FindingChat", "Upload"]
