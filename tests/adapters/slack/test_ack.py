"""Slack wants the HTTP answer to a slash command within 3 seconds: the command is acked before
it is parsed, recorded and answered through its response_url, so a slow response_url never
holds the HTTP answer back."""

from __future__ import annotations

from tests.fakes.slack_harness import SlackHarness


async def test_a_slow_response_url_does_not_delay_the_http_answer(slack: SlackHarness) -> None:
    slack.fake.response_delay = 2.0  # held until released; answers after 2 s at the latest
    response = await slack.command("a fox in snow")
    slack.fake.timeline.append("HTTP answer")
    assert response.status_code == 200
    (reply,) = await slack.wait_responses(1)
    assert "Got it: task" in reply["text"]
    slack.fake.release_responses()
    await slack.fake.wait_for(lambda: "response_url answered" in slack.fake.timeline)
    timeline = slack.fake.timeline
    # The order the fake saw, not a wall-clock threshold: the HTTP answer came back while the
    # response_url was still holding its answer (acking after respond() puts it after).
    assert timeline.index("HTTP answer") < timeline.index("response_url answered")
    assert len(await slack.tasks()) == 1
