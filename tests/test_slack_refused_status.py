"""A Socket Mode token Slack refuses with a bare HTTP 401 (no JSON error) stops `run` with one
line, as a refused token with `ok: false` does, instead of retrying forever."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from adapters.simulator.server import RunningSimulator
from tests.fakes.slack_server import BOT_TOKEN, FakeSlack
from tests.process_harness import run_bot
from tests.test_process_platforms import assert_one_plain_line, live_sim, run_env

__all__ = ["live_sim"]  # the fixture, used by name


class UnauthorizedSlack(FakeSlack):
    """Answers apps.connections.open with HTTP 401 and an empty body."""

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["method"] == "apps.connections.open":
            return web.Response(status=401, text="")
        return await super()._api(request)


async def test_a_401_for_the_app_token_is_one_line(
    tmp_path: Path, live_sim: RunningSimulator
) -> None:
    fake = await UnauthorizedSlack().start()
    try:
        wrong = "xapp-1-refused-with-401-0000"
        env = run_env(
            tmp_path, live_sim, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=wrong,
            SLACK_API_URL=fake.api_url,
        )  # fmt: skip
        code, _, err = await run_bot(["run"], tmp_path, env)
        assert code != 0
        assert_one_plain_line(err, "SLACK_APP_TOKEN", wrong)
    finally:
        await fake.close()
