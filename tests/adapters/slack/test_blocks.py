"""The new-video modal stays inside Block Kit whatever the operator configured: Slack refuses
a view whose file_input asks for more than 10 files (or fewer than 1)."""

from __future__ import annotations

import pytest

from adapters.slack.blocks import ModalMeta, create_modal
from bot.config import Settings


@pytest.mark.parametrize(("configured", "max_files"), [(0, 1), (1, 1), (4, 4), (10, 10), (25, 10)])
def test_file_input_max_files_stays_within_1_to_10(configured: int, max_files: int) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        VIDEOBOT_MAX_REFERENCE_IMAGES=configured,
    )
    view = create_modal(settings.profile(), ModalMeta(channel_id="C1"))
    (files,) = [b for b in view["blocks"] if b["block_id"] == "files"]
    assert files["element"]["max_files"] == max_files
