"""Block Kit builders: a StatusView as Slack blocks, and the three modals (new video, animate a
message, edit a result). Pure functions over plain dicts; the wording comes from bot.messages
except for the few Slack-specific strings kept here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adapters.slack.mrkdwn import inert, inert_but_mention
from bot.checks import offered_modes
from bot.domain import Mode, Profile
from bot.messages import StatusView

Block = dict[str, Any]

# action_id prefix for status-message buttons; the value is the task ref, so a button keeps
# working after a restart (state comes from the ledger, not from memory).
ACTION_PREFIX = "videobot_"
CREATE_VIEW = "videobot_create"
ANIMATE_VIEW = "videobot_animate"
EDIT_VIEW = "videobot_edit"
ANIMATE_SHORTCUT = "videobot_animate"

NO_FILE_FLAGS = (
    "In Slack, attach media instead of --image/--ref/--video: use the message shortcut "
    "“Animate with videobot” on a message holding images or a clip, or mention @videobot in a "
    "message with the files attached."
)
NO_MEDIA_ON_MESSAGE = (
    "That message holds no image or video. “Animate with videobot” works on messages with "
    "PNG, JPEG or WebP images, or an MP4 clip."
)
PROMPT_NEEDED = "Describe the video you want."

_STYLES = {"primary": "primary", "danger": "danger"}

_SECTION_TEXT = 3000  # a section's text, in characters (Block Kit)
_MAX_FILES = 10  # file_input.max_files: Slack refuses a view that asks for more


def status_blocks(view: StatusView, mention: str | None = None) -> list[Block]:
    """The status message: headline, summary, detail (progress bar included), buttons. The
    summary and detail carry the prompt and the provider's words: escaped, except `mention`
    (the requester, written by the core at the end of the summary)."""
    blocks: list[Block] = [
        {"type": "section", "text": _mrkdwn(f"*{inert(view.headline, 200)}*  `{view.ref}`")},
        {"type": "context", "elements": [_mrkdwn(inert_but_mention(view.summary, mention, 2900))]},
    ]
    if view.detail:
        blocks.append({"type": "section", "text": _mrkdwn(inert(view.detail, _SECTION_TEXT))})
    if view.buttons:
        elements = []
        for button in view.buttons:
            element: Block = {
                "type": "button",
                "action_id": f"{ACTION_PREFIX}{button.action}",
                "text": {"type": "plain_text", "text": button.label},
                "value": button.ref,
            }
            if button.style in _STYLES:
                element["style"] = _STYLES[button.style]
            elements.append(element)
        blocks.append({"type": "actions", "block_id": f"vb_{view.ref}", "elements": elements})
    return blocks


def status_text(view: StatusView, mention: str | None = None) -> str:
    """The notification / screen-reader fallback that goes with the blocks."""
    return inert_but_mention(f"{view.headline} [{view.ref}] {view.summary}", mention, 3000)


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def _plain(text: str) -> Block:
    return {"type": "plain_text", "text": text}


def _option(value: str, label: str) -> Block:
    return {"text": _plain(label), "value": value}


def _select(block_id: str, label: str, options: Sequence[tuple[str, str]], initial: str) -> Block:
    opts = [_option(v, t) for v, t in options]
    chosen = next((o for o in opts if o["value"] == initial), opts[0])
    return {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label),
        "element": {
            "type": "static_select",
            "action_id": block_id,
            "options": opts,
            "initial_option": chosen,
        },
    }


def _prompt_input(label: str, placeholder: str) -> Block:
    return {
        "type": "input",
        "block_id": "prompt",
        "label": _plain(label),
        "element": {
            "type": "plain_text_input",
            "action_id": "prompt",
            "multiline": True,
            "max_length": 2000,
            "placeholder": _plain(placeholder),
        },
    }


def _options(profile: Profile) -> list[Block]:
    """Aspect ratio, duration and (where the provider offers a choice) resolution."""
    options = [
        _select(
            "ar",
            "Aspect ratio",
            [(r, r) for r in profile.aspect_ratios],
            profile.default_aspect_ratio,
        ),
        _select(
            "duration",
            "Duration",
            [(str(d), f"{d} seconds") for d in profile.durations],
            str(profile.default_duration),
        ),
    ]
    if len(profile.resolutions) > 1:
        options.append(
            _select(
                "res",
                "Resolution",
                [(r, r) for r in profile.resolutions],
                profile.default_resolution,
            )
        )
    return options


def _modal(callback_id: str, title: str, submit: str, blocks: list[Block], meta: str) -> Block:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(title),
        "submit": _plain(submit),
        "close": _plain("Cancel"),
        "private_metadata": meta,
        "blocks": blocks,
    }


_AUTO = ("auto", "From my attachments")
_IMAGE_TYPES = ["png", "jpg", "jpeg", "webp"]


def create_modal(profile: Profile, meta: ModalMeta) -> Block:
    """`/video` with no text: prompt, then what the provider offers: mode (when more than one),
    aspect ratio, duration, resolution (when more than one), media (when a mode takes any)."""
    modes = offered_modes(profile)
    blocks = [_prompt_input("Describe the video", "a paper boat on a river, golden hour")]
    if len(modes) > 1:
        choices = [_AUTO, *((m.value, m.label.capitalize()) for m in modes)]
        blocks.append(_select("mode", "Mode", choices, "auto"))
    blocks += _options(profile)
    if files := _files_input(profile, modes):
        blocks.append(files)
    return _modal(CREATE_VIEW, "New video", "Make it", blocks, meta.dump())


def _files_input(profile: Profile, modes: list[Mode]) -> Block | None:
    images = Mode.I2V in modes or Mode.R2V in modes
    clip = Mode.EDIT in modes
    if not images and not clip:
        return None
    most = profile.max_reference_images if Mode.R2V in modes else 1
    label = "Images or a clip" if images and clip else "Images" if images else "A clip"
    return {
        "type": "input",
        "block_id": "files",
        "optional": True,
        "label": _plain(f"{label} (optional)"),
        "element": {
            "type": "file_input",
            "action_id": "files",
            "filetypes": (_IMAGE_TYPES if images else []) + (["mp4"] if clip else []),
            "max_files": min(_MAX_FILES, max(1, most)),
        },
    }


def animate_modal(profile: Profile, meta: ModalMeta, kinds: str) -> Block:
    """The message shortcut: the media come from the message; ask for the prompt."""
    intro = {"type": "context", "elements": [_mrkdwn(f"Using {kinds} from that message.")]}
    blocks = [intro, _prompt_input("What should happen?", "make it move"), *_options(profile)]
    return _modal(ANIMATE_VIEW, "Animate", "Make it", blocks, meta.dump())


def edit_modal(meta: ModalMeta) -> Block:
    blocks = [_prompt_input("How should the video change?", "turn it into a watercolour")]
    return _modal(EDIT_VIEW, "Edit this video", "Edit", blocks, meta.dump())


@dataclass(frozen=True, slots=True)
class ModalMeta:
    """What a modal carries to its submission (private_metadata holds at most 3000 chars):
    where to answer, and for the shortcut the file ids (fetched again with files.info)."""

    channel_id: str
    thread_ts: str | None = None
    file_ids: tuple[str, ...] = ()
    ref: str | None = None

    def dump(self) -> str:
        data = {"c": self.channel_id, "t": self.thread_ts, "f": list(self.file_ids), "r": self.ref}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def load(cls, text: str) -> ModalMeta:
        data = json.loads(text or "{}")
        return cls(
            channel_id=str(data.get("c") or ""),
            thread_ts=data.get("t"),
            file_ids=tuple(str(f) for f in data.get("f") or ()),
            ref=data.get("r"),
        )


def submitted_values(view: dict[str, Any]) -> dict[str, Any]:
    """{block_id: value} from a view_submission's state: text, selected option, or files."""
    values: dict[str, Any] = {}
    for block_id, actions in view.get("state", {}).get("values", {}).items():
        for action in actions.values():
            kind = action.get("type")
            if kind == "plain_text_input":
                values[block_id] = action.get("value") or ""
            elif kind == "static_select":
                selected = action.get("selected_option") or {}
                values[block_id] = selected.get("value")
            elif kind == "file_input":
                values[block_id] = list(action.get("files") or [])
    return values


def confirm_blocks(question: str, ref: str) -> list[Block]:
    """A request held for confirmation: the question, then Confirm and Cancel (the value is
    the held request's reference)."""
    buttons = [
        ("confirm", "Confirm", "primary"),
        ("dismiss", "Cancel", None),
    ]
    elements = []
    for action, label, style in buttons:
        element: Block = {
            "type": "button",
            "action_id": f"{ACTION_PREFIX}{action}",
            "text": {"type": "plain_text", "text": label},
            "value": ref,
        }
        if style:
            element["style"] = style
        elements.append(element)
    text = {"type": "mrkdwn", "text": inert(question, _SECTION_TEXT)}
    section = {"type": "section", "text": text}
    return [section, {"type": "actions", "block_id": f"vb_confirm_{ref}", "elements": elements}]
