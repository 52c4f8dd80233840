"""The error tree of videobot. Every error a user can meet says what to do next.

VideobotError
├── CommandError            bad /video input; the message names what is allowed
├── MediaError              an attachment we cannot use (type, size, count, duration)
├── NotFound                no task with that reference (or not yours)
├── ActionRefused           cancel/retry that no longer applies, or access refused
│   └── QuotaExceeded       a per-user cap was reached; nothing was recorded or paid
│       └── BudgetExceeded  a spending budget would be passed; nothing was recorded or paid
├── ConfirmationNeeded      the request costs more than the threshold: it waits for Confirm
├── LedgerUnavailable       the ledger could not record a request (disk full); nothing was
│                           recorded, so the user can simply send it again later
├── DeliveryError           the chat platform refused a post or an upload
│   ├── DeliveryTransient   ...but trying again later may work (429, 5xx, network)
│   └── MessageGone         the status message was deleted: post a new one
└── ProviderError           the video API said no, or could not be reached
    ├── ProviderRejected    400: the request itself is wrong; never retried
    ├── ProviderAuthError   401: the operator's key is wrong; never retried
    │   └── ProviderForbidden   403: this key may not do that (e.g. read this task)
    ├── ProviderTransient   429 / 5xx / network on an idempotent call; retry later
    │   ├── RateLimited     429, with the provider's Retry-After
    │   └── Unreachable     the request provably never reached the provider (connect/DNS)
    ├── SubmitAmbiguous     the submit may or may not have created (and billed) a task
    ├── TaskNotFound        the provider does not know the task id (yet, or any more)
    └── ResultExpired       the result URL no longer serves the video
"""

from __future__ import annotations

from datetime import timedelta


class VideobotError(Exception):
    """Root of every error videobot raises on purpose."""


class CommandError(VideobotError):
    """The /video text could not be understood; `str(err)` is shown to the user as is."""


class MediaError(VideobotError):
    """An attachment is of the wrong kind, size, count or length."""


class NotFound(VideobotError):
    """No task matches the reference the user gave."""


class ActionRefused(VideobotError):
    """The action is understood but does not apply (task already ended, quota reached...)."""


class QuotaExceeded(ActionRefused):
    """A per-user limit was reached at accept time. `kind` is "daily" or "concurrent"."""

    def __init__(self, message: str, kind: str, limit: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.limit = limit


class BudgetExceeded(QuotaExceeded):
    """The task's estimate would pass a budget (`scope` user|workspace|channel, `period`
    day|month): `limit` and `spent` (spent or reserved so far) in micro-units of `unit`."""

    def __init__(  # noqa: PLR0913 (each one a fact the refusal states)
        self, message: str, scope: str, period: str, limit: int, spent: int, unit: str
    ) -> None:
        super().__init__(message, "budget", limit)
        self.scope = scope
        self.period = period
        self.spent = spent
        self.unit = unit


class ConfirmationNeeded(VideobotError):
    """The request's estimate is above the confirmation threshold: nothing was recorded; it is
    held as `ref` until its requester confirms (or it expires)."""

    def __init__(self, message: str, ref: str) -> None:
        super().__init__(message)
        self.ref = ref


class LedgerUnavailable(VideobotError):
    """The ledger could not record a new task (disk full, I/O error): nothing was recorded."""


class LeaseLost(VideobotError):
    """This worker's claim on a task lapsed and another worker took the task over: stop the
    step and send nothing more (the new holder decides what happens to it)."""


class DeliveryError(VideobotError):
    """The chat platform refused to post or upload; permanent unless a subclass says not."""


class DeliveryTransient(DeliveryError):
    """Posting failed for a reason that may pass (rate limit, 5xx, network)."""

    def __init__(self, message: str, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MessageGone(DeliveryError):
    """The message being edited no longer exists (someone deleted it)."""


class ProviderError(VideobotError):
    """The video API refused or failed. `code` is the provider's own code when it gave one."""

    def __init__(
        self, message: str, *, code: str | None = None, request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.request_id = request_id


class ProviderRejected(ProviderError):
    """HTTP 400: the request is invalid; retrying the same request cannot help."""


class ProviderAuthError(ProviderError):
    """HTTP 401: the API key is missing or wrong: an operator problem, not the user's."""


class ProviderForbidden(ProviderAuthError):
    """HTTP 403: the key works but may not do this; asking again cannot change that."""


class ProviderTransient(ProviderError):
    """A failure that may pass: 5xx or a network error on a call that is safe to repeat."""


class RateLimited(ProviderTransient):
    """HTTP 429: too many requests, too many running tasks, or the quota is spent."""

    def __init__(
        self, message: str, *, retry_after: timedelta | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class Unreachable(ProviderTransient):
    """Connecting failed, so the request was never sent: safe to send again, even a submit."""


class SubmitAmbiguous(ProviderError):
    """The submit was sent but its answer was lost: the provider may have billed a task."""


class TaskNotFound(ProviderError):
    """The provider answered 404 for a task id."""


class ResultExpired(ProviderError):
    """The result URL answered 403/404: it has expired; poll again for a fresh one."""
