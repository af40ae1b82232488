"""Failure notifications for the topictensor DAGs, through Airflow's notifier mechanism.

Off by default. Lives in plugins/ (on sys.path for every Airflow component) so the DAGs import it. Set ``TOPICTENSOR_FAILURE_WEBHOOK`` to an incoming-webhook URL (Slack, Mattermost,
Teams' and most chat tools accept ``{"text": ...}``) and every failed task instance of the
refresh posts one message naming the DAG, the run, the task and the error: a failed gate says
why. ``TOPICTENSOR_FAILURE_WEBHOOK_TIMEOUT`` (seconds, default 10) bounds the post; a webhook
that cannot be reached is logged and never fails the callback.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)

ENV_URL = "TOPICTENSOR_FAILURE_WEBHOOK"
ENV_TIMEOUT = "TOPICTENSOR_FAILURE_WEBHOOK_TIMEOUT"


class WebhookNotifier(BaseNotifier):
    """POST ``{"text": message}`` (JSON) to ``url``; the message is a template over the task context."""

    template_fields = ("message",)

    def __init__(self, url: str, message: str | None = None, timeout: float = 10.0):
        super().__init__()
        self.url = url
        self.timeout = timeout
        self.message = message or (
            "TopicTensor: task {{ ti.task_id }} of {{ dag.dag_id }} failed in run {{ run_id }} "
            "(try {{ ti.try_number }}): {{ exception }}")

    def notify(self, context) -> None:
        body = json.dumps({"text": self.message}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                log.info("failure notification sent to %s (HTTP %s)", self.url, response.status)
        except OSError as exc:
            log.warning("failure notification to %s failed: %s", self.url, exc)


def failure_callbacks() -> list[BaseNotifier]:
    """The configured notifiers (none unless ``TOPICTENSOR_FAILURE_WEBHOOK`` is set)."""
    url = (os.environ.get(ENV_URL) or "").strip()
    if not url:
        return []
    return [WebhookNotifier(url, timeout=float(os.environ.get(ENV_TIMEOUT) or 10))]
