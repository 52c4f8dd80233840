"""Answers the Discord handlers give that are Discord's own: a press or an Edit form that
already started its task, and what an error says with the buttons that go with it."""

from __future__ import annotations

from bot.errors import ConfirmationNeeded, VideobotError

# Said to whoever presses a button (or sends the Edit form) that already started a task.
PRESSED_BEFORE = (
    "Task {ref} already exists: this button already started it, so nothing new was started. "
    "Follow it in its status message, or use `/videobot retry {ref}` once it has ended."
)
EDITED_BEFORE = (
    "Task {ref} already exists: this same edit was already asked for, so nothing new was "
    "started. Follow it in its status message."
)


def said(err: VideobotError) -> tuple[str, str | None]:
    """What to answer for `err`, and the held request whose Confirm and Cancel go with it (a
    dear Retry, Make it 9:16 or Edit asks first, like a dear /video)."""
    return str(err), err.ref if isinstance(err, ConfirmationNeeded) else None
