"""The logging set-up as the composition root runs it: Settings with canary secrets,
`logs.setup(...)` on a fresh interpreter, and what actually reached the process's stderr."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.paths import ROOT
from tests.test_secrets import CANARIES

# Runs in a child process so the handler writes to a real stderr (file descriptor 2) and no
# test fixture (capture handlers, a previously installed record factory) can hide a gap.
_CHILD = textwrap.dedent(
    """
    import logging, sys
    from bot import logs
    from bot.config import Settings

    settings = Settings(_env_file=None)
    logs.setup(settings.log_level, settings.secret_values(), settings.log_format)
    bot, app, key = sys.argv[1:4]
    logging.getLogger("slack_sdk.web.base_client").debug(
        "Sending a request - headers: {'Authorization': 'Bearer %s'}", bot
    )
    logging.getLogger("slack_bolt.App").info("app token %s", app)
    logging.getLogger("httpx").info("HTTP Request: POST %s key=%s", "https://gw/v1", key)
    logging.getLogger("videobot.provider").warning("Authorization: Bearer " + key)
    logging.getLogger("discord.client").debug("logging in using static token %s", sys.argv[4])
    try:
        raise RuntimeError("upstream echoed " + key)
    except RuntimeError:
        logging.getLogger("videobot.worker").exception("task ABC123: unexpected error")
    print("child done", file=sys.stderr)
    """
)


@pytest.mark.parametrize("fmt", ["human", "json"])
def test_the_real_stderr_handler_redacts_every_secret(fmt: str) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))},
        "VIDEO_API_KEY": CANARIES["provider"],
        "SLACK_BOT_TOKEN": CANARIES["slack_bot"],
        "SLACK_APP_TOKEN": CANARIES["slack_app"],
        "SLACK_SIGNING_SECRET": CANARIES["signing"],
        "DISCORD_TOKEN": CANARIES["discord"],
        "VIDEOBOT_LOG_LEVEL": "DEBUG",
        "VIDEOBOT_LOG_FORMAT": fmt,
    }
    secrets = [CANARIES[k] for k in ("slack_bot", "slack_app", "provider", "discord")]
    child = subprocess.run(  # noqa: S603 - our own interpreter running our own script
        [sys.executable, "-c", _CHILD, *secrets],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    printed = child.stderr
    assert "child done" in printed and "unexpected error" in printed  # the lines did print
    assert "RuntimeError" in printed  # and the traceback with them
    leaked = [name for name, secret in CANARIES.items() if secret in printed]
    assert leaked == [], f"secrets printed to stderr: {leaked}\n{printed}"
    assert "[redacted]" in printed


def test_a_signed_result_link_in_a_request_line_loses_its_credentials() -> None:
    # httpx logs every request's URL at INFO; a provider's signed result link carries
    # credentials that are not our key (a storage signature), and must not reach the log.
    from bot.logs import RedactingFilter

    line = (
        "HTTP Request: GET https://cdn.example/v.mp4?X-Amz-Credential=AKIA%2F20261202"
        "&X-Amz-Signature=9f8e7d6c&width=720&api_key=sk-someone-else;sig=abc "
        '"HTTP/1.1 200 OK"'
    )
    cleaned = RedactingFilter([]).redact(line)
    for secret in ("AKIA", "9f8e7d6c", "sk-someone-else", "sig=abc"):
        assert secret not in cleaned
    assert "https://cdn.example/v.mp4?" in cleaned and "width=720" in cleaned
