"""What a handler can raise, and what the runner does with it.

Exception                      anything unexpected: retried like RetryableError, then dead-lettered
├── RetryableError             try again later (provider 5xx, timeout, lock held): next retry tier
├── PermanentError             will never succeed (invalid data, 4xx): dead-letter now, with reason
└── OutcomeUnknownError        may have taken effect (timeout after sending): reconcile, never resend
                               blindly; the runner dead-letters it with reason `outcome-unknown`
                               unless the handler reconciles first

PublishFailed                  raised BY the publisher, never by handlers' own logic
├── UnroutableMessage          no queue is bound for the routing key (never silent)
└── BrokerUnavailable          no broker confirm within the publish timeout (e.g. broker down)
"""

from __future__ import annotations


class HandlerError(Exception):
    """Base for errors a handler raises on purpose; `reason` goes into headers and logs."""

    reason = "handler-error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class RetryableError(HandlerError):
    reason = "retryable"


class PermanentError(HandlerError):
    reason = "permanent"


class OutcomeUnknownError(HandlerError):
    reason = "outcome-unknown"


class PublishFailed(Exception):
    """A message could not be handed to the broker. Nothing was confirmed."""


class UnroutableMessage(PublishFailed):
    def __init__(self, routing_key: str) -> None:
        super().__init__(f"no queue is bound to routing key {routing_key!r}; message returned by broker")
        self.routing_key = routing_key


class BrokerUnavailable(PublishFailed):
    pass
