"""AgentDialog: add or edit an agent; its config is checked by its kind as it is typed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox, QWidget

from desktop.agents.registry import load_kinds, validate_agent
from desktop.errors import TaskValidationError
from desktop.queue import Agent, TaskQueueService
from desktop.queue import validation as check
from desktop.ui.duration_edit import DAY, DurationEdit
from desktop.ui.form_dialog import FormDialog
from desktop.ui.jobs import Jobs
from desktop.ui.json_edit import JsonEdit

CONFIG_EXAMPLES: dict[str, dict[str, Any]] = {
    "command": {"argv": ["echo", "{message}"]},
    "http": {"url": "https://example.com/hooks/{name}", "method": "POST"},
    "python": {"target": "mypackage.jobs:run"},
}


def _seconds_box(parent: QWidget, maximum: float, default_text: str) -> DurationEdit:
    box = DurationEdit(parent, -1.0, maximum, special_text=default_text)  # -1, the minimum: the default
    box.setValue(-1.0)
    return box


def _seconds(box: DurationEdit) -> float | None:
    return None if box.value() < 0 else box.value()


def _typed_number(text: str) -> int | str | None:
    """None when empty, the whole number typed, or else the text itself (for the check to refuse)."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return text


class AgentDialog(FormDialog):
    """Name, kind, config (JSON), concurrency, timeout, retries (and whether they escalate the
    priority), the limit of waiting tasks and the webhook of an agent.

    Signals:
        saved(Agent): the agent was added or changed.
    """

    saved = Signal(object)

    def __init__(
        self, service: TaskQueueService, jobs: Jobs, parent: QWidget | None = None, *, agent: Agent | None = None
    ) -> None:
        super().__init__("Edit agent" if agent else "New agent", jobs, parent)
        self.service = service
        self.editing = agent
        self.name = QLineEdit(self)
        self.name.setPlaceholderText("e.g. builder")
        self.add_field("name", "&Name:", self.name, "Letters, digits, '_', '.', '-'.")

        self.kind = QComboBox(self)
        self._kinds = load_kinds()
        for name in sorted(self._kinds):
            self.kind.addItem(name)
            self.kind.setItemData(self.kind.count() - 1, getattr(self._kinds[name], "description", ""),
                                  Qt.ItemDataRole.ToolTipRole)
        self.add_field("kind", "&Kind:", self.kind)

        self.config = JsonEdit("config", self, empty={}, require_object=True)
        self.config.setMinimumHeight(130)
        self.config.checked.connect(self._config_checked)
        self.add_field("config", "&Config (JSON):", self.config, "What the kind needs, as a JSON object.")

        self.concurrency = QSpinBox(self)
        self.concurrency.setRange(1, 1000)
        self.add_field("concurrency", "C&oncurrency:", self.concurrency, "Tasks of this agent run at once.")

        self.timeout = _seconds_box(self, 7 * DAY, "app default")
        self.add_field("timeout_s", "&Timeout:", self.timeout)

        self.max_retries = QSpinBox(self)
        self.max_retries.setRange(-1, 100)
        self.max_retries.setSpecialValueText("app default")
        self.add_field("max_retries", "Max &retries:", self.max_retries)

        self.retry_base = _seconds_box(self, DAY, "app default")
        self.add_field("retry_base_s", "Retry &base delay:", self.retry_base)
        self.retry_cap = _seconds_box(self, 7 * DAY, "app default")
        self.add_field("retry_cap_s", "Retry dela&y cap:", self.retry_cap)
        self.escalate_priority = QCheckBox("Each automatic retry one priority level higher (up to 5)", self)
        self.add_field("escalate_priority", "&Escalate priority:", self.escalate_priority)

        self.max_pending = QLineEdit(self)
        self.max_pending.setPlaceholderText("no limit")
        self.max_pending.setMaximumWidth(self.fontMetrics().horizontalAdvance("0" * 12) + 16)
        self.max_pending.setToolTip("Pending, blocked, retrying and backlogged tasks count")
        self.add_field("max_pending", "Max &pending:", self.max_pending,
                       "Waiting tasks at most; enqueueing more is refused. Empty: no limit.")

        self.notify_url = QLineEdit(self)
        self.notify_url.setPlaceholderText("optional: https://… told when a task ends for good")
        self.add_field("notify_url", "&Webhook:", self.notify_url)

        self.kind.currentTextChanged.connect(self._kind_changed)
        if agent is not None:
            self._fill(agent)
        else:
            self.max_retries.setValue(-1)
            self.kind.setCurrentText("echo")
            self._kind_changed(self.kind.currentText())
        self.fit_size(560)

    def _fill(self, agent: Agent) -> None:
        self.name.setText(agent.name)
        self.name.setReadOnly(True)
        self.kind.setCurrentText(agent.kind)
        self.config.set_value(agent.config)
        self.concurrency.setValue(agent.concurrency)
        self.timeout.setValue(-1.0 if agent.timeout_s is None else agent.timeout_s)
        self.max_retries.setValue(-1 if agent.max_retries is None else agent.max_retries)
        self.retry_base.setValue(-1.0 if agent.retry_base_s is None else agent.retry_base_s)
        self.retry_cap.setValue(-1.0 if agent.retry_cap_s is None else agent.retry_cap_s)
        self.escalate_priority.setChecked(agent.escalate_priority)
        self.max_pending.setText("" if agent.max_pending is None else str(agent.max_pending))
        self.notify_url.setText(agent.notify_url or "")

    def _kind_changed(self, kind: str) -> None:
        if not self.config.toPlainText().strip() or self.config.toPlainText().strip() == "{}":
            self.config.set_value(CONFIG_EXAMPLES.get(kind, {}))
        self.config.check()

    def _config_checked(self, message: str) -> None:
        """JSON that parses is then checked by the agent kind itself, as it is typed."""
        self.errors.clear("config")
        self.errors.clear("kind")
        if message:
            self.errors.show("config", message)
            return
        try:
            validate_agent(self.kind.currentText(), self.config.value())
        except TaskValidationError as exc:
            self.errors.show_validation(exc)

    def collect(self) -> Callable[[], Any]:
        name = self.name.text().strip()
        kind = self.kind.currentText()
        config = self.config.value()
        validate_agent(kind, config)
        settings: dict[str, Any] = {
            "kind": kind,
            "config": config,
            "concurrency": self.concurrency.value(),
            "timeout_s": _seconds(self.timeout),
            "max_retries": None if self.max_retries.value() < 0 else self.max_retries.value(),
            "retry_base_s": _seconds(self.retry_base),
            "retry_cap_s": _seconds(self.retry_cap),
            "escalate_priority": self.escalate_priority.isChecked(),
            "max_pending": check.max_pending("max_pending", _typed_number(self.max_pending.text())),
            "notify_url": self.notify_url.text().strip() or None,
        }
        service = self.service
        if self.editing is not None:
            return lambda: service.update_agent(name, **settings)
        kind_arg = settings.pop("kind")
        config_arg = settings.pop("config")
        return lambda: service.add_agent(name, kind_arg, config_arg, **settings)

    def succeeded(self, result: Any) -> None:
        self.saved.emit(result)
        super().succeeded(result)
