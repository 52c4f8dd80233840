"""The media one request brings in, deleted at once when the request is refused: refused
requests keep nothing. A file another request sent too (the same bytes) is left to retention."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from adapters.media.intake import MediaIntake
from bot.domain import MediaRef
from bot.errors import ConfirmationNeeded


class IntakeBatch(MediaIntake):
    """`with IntakeBatch(intake) as media:` stores like `intake`; leaving the block with an
    error (a refusal) deletes what it newly stored. A request held for confirmation is not
    refused: its media waits for the answer."""

    def __init__(self, intake: MediaIntake) -> None:
        super().__init__(intake._root, intake._profile)
        self._fresh = intake._fresh  # shared: a file sent again by anyone is not deleted
        self._created: set[str] = set()

    def _store(self, data: bytes, name: str, shown: str | None = None) -> MediaRef:
        ref = super()._store(data, name, shown)
        if ref.path in self._fresh:
            self._created.add(ref.path)
        elif ref.path in self._created:  # the same file twice in this request: still ours
            self._fresh.add(ref.path)
        return ref

    def __enter__(self) -> IntakeBatch:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        err: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        refused = err is not None and not isinstance(err, ConfirmationNeeded)
        for path in self._created:
            if path in self._fresh:  # nobody sent it again meanwhile
                self._fresh.discard(path)
                if refused:
                    Path(path).unlink(missing_ok=True)
