"""The webhook ingress: a listener apart from the control API that turns verified provider
notifications into journaled inputs."""

from adapters.webhooks.service import (
    WebhookIngressService,
    WebhookRejectedError,
    WebhookSource,
)

__all__ = ["WebhookIngressService", "WebhookRejectedError", "WebhookSource"]
