"""Slack's answers as the core's delivery errors: what to retry (rate limits, Slack's own
trouble), what is gone (a deleted status message, an uninstalled workspace), what is final."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError, SlackTokenRotationError
from sqlalchemy.exc import SQLAlchemyError

from adapters.slack.tokens import BotTokens
from bot.domain import ReplyTarget
from bot.errors import DeliveryError, DeliveryTransient, MessageGone

_TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
# A refresh Slack refuses for good: the installation is gone or its refresh token was spent.
_REFRESH_REFUSED = frozenset({"invalid_refresh_token", "token_revoked", "invalid_auth"})


class WorkspaceGone(DeliveryError):
    """The app is not installed in the task's workspace any more (uninstalled, or its tokens
    revoked): there is no token to call Slack with, so nothing is sent."""


async def bot_token(tokens: BotTokens, target: ReplyTarget) -> str:
    """The token for a call to `target`'s workspace. Raises WorkspaceGone when there is none,
    DeliveryTransient when the store or a refresh failed in a way a retry may fix."""
    try:
        token = await tokens.bot_token(target.workspace_id, target.enterprise_id)
    except SlackTokenRotationError as err:
        code = error_code(err.api_error)
        if code in _REFRESH_REFUSED:
            raise WorkspaceGone(f"Slack refused to refresh the bot token ({code})") from None
        raise DeliveryTransient(f"refreshing the bot token failed ({code})") from None
    except (SQLAlchemyError, OSError) as err:
        raise DeliveryTransient(f"the installation store failed ({type(err).__name__})") from None
    if token is None:
        raise WorkspaceGone(f"videobot is not installed in Slack workspace {target.workspace_id}")
    return token


def mapped(method: str, err: SlackApiError) -> DeliveryError:
    response = err.response
    status = int(getattr(response, "status_code", 200) or 200)
    code = error_code(err)
    if status == 429 or code == "ratelimited":
        headers = getattr(response, "headers", {}) or {}
        wait = _retry_after(headers)
        return DeliveryTransient(f"{method}: rate limited by Slack", wait)
    if status >= 500 or code in _TRANSIENT_ERRORS:
        return DeliveryTransient(f"{method}: Slack answered {status} {code}".rstrip())
    if method == "chat_update" and code == "message_not_found":
        # Someone deleted the status message: the board posts a new one instead of editing a
        # message that is gone on every later progress and final edit.
        return MessageGone(f"{method}: {code}")
    return DeliveryError(f"{method}: {code or status}")


def error_code(err: SlackApiError) -> str:
    """Slack's `error` field; empty when the body was not JSON (a proxy's 502 page, say)."""
    data = getattr(err.response, "data", None)
    return str(data.get("error") or "") if isinstance(data, dict) else ""


def _retry_after(headers: dict[str, Any]) -> timedelta:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return timedelta(seconds=max(1, int(str(raw))))
            except ValueError:
                break
    return timedelta(seconds=30)


# A token Slack refuses for good: starting again cannot help, the operator must act.
_TOKEN_REFUSED = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
     "not_allowed_token_type", "missing_scope"}
)  # fmt: skip


def refusal(err: SlackApiError) -> str | None:
    """Why Slack refused a token (its error code or a bare HTTP 401/403); None: retry."""
    data = err.response.data if isinstance(err.response.data, dict) else {}
    if (code := data.get("error")) in _TOKEN_REFUSED:
        return str(code)
    if err.response.status_code in (401, 403):
        return f"HTTP {err.response.status_code}"
    return None
