"""Ansible stdout callback for `hakit deploy`: one JSON object per line (task results, no module args).

Results of `no_log` tasks reach callbacks already censored by Ansible; this callback adds only the fields
the progress table needs (host, task, status, message, diff), never the task's arguments.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: hakit_events
type: stdout
short_description: JSON lines for hakit deploy's progress table
description: One JSON object per line for each task start and result.
"""


class CallbackModule(CallbackBase):
    """Emit task events as JSON lines on stdout."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "hakit_events"

    def _emit(self, **event: Any) -> None:
        event["t"] = round(time.time(), 3)
        sys.stdout.write(json.dumps(event, default=str) + "\n")
        sys.stdout.flush()

    def _result(self, status: str, result: Any) -> None:
        data = result._result
        event: dict[str, Any] = {
            "event": "result",
            "status": status,
            "host": result._host.get_name(),
            "task": result._task.get_name(),
            "changed": bool(data.get("changed")),
        }
        if data.get("censored"):
            event["censored"] = True
        if status in ("failed", "unreachable"):
            event["msg"] = str(data.get("msg") or data.get("stderr") or data.get("reason") or "failed")
            items = [r for r in data.get("results", []) if isinstance(r, dict) and r.get("failed")]
            if items:  # a loop: the first failed item's own words
                event["msg"] = f"{items[0].get('item')}: {items[0].get('msg', 'failed')}"
            event["ignored"] = bool(result._task.ignore_errors)
        if "diff" in data and not data.get("censored"):
            diffs = data["diff"] if isinstance(data["diff"], list) else [data["diff"]]
            event["diff"] = [d.get("prepared", "") for d in diffs if isinstance(d, dict)]
        for key in ("files", "reloaded", "started", "stopped", "pending", "holds", "versions", "restored"):
            if key in data and not data.get("censored"):
                event[key] = data[key]
        self._emit(**event)

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._emit(event="play", name=play.get_name())

    def v2_runner_on_start(self, host: Any, task: Any) -> None:
        self._emit(event="start", host=host.get_name(), task=task.get_name())

    def v2_runner_on_ok(self, result: Any) -> None:
        self._result("ok", result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._result("failed", result)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._result("skipped", result)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._result("unreachable", result)

    def v2_playbook_on_no_hosts_remaining(self) -> None:
        self._emit(event="stopped")

    def v2_playbook_on_stats(self, stats: Any) -> None:
        hosts = sorted(stats.processed.keys())
        self._emit(event="stats", hosts={h: stats.summarize(h) for h in hosts})
