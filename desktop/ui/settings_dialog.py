"""SettingsDialog: the profile and the values that override it, saved to the settings file."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from desktop.api.binding import DEFAULT_HOST
from desktop.bootstrap import remember_password
from desktop.config import DEFAULT_API_PORT, PROFILES, Settings, save_settings
from desktop.errors import TaskValidationError
from desktop.queue.db import display_url
from desktop.ui.duration_edit import DAY, DurationEdit
from desktop.ui.form_dialog import FormDialog
from desktop.ui.jobs import Jobs
from desktop.ui.window_api import TOKEN_HINT

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsDialog(FormDialog):
    """Edits a Settings value; OK validates it and writes the settings file.

    Signals:
        saved(Settings): the new settings, written to disk.
    """

    saved = Signal(object)

    def __init__(
        self,
        settings: Settings,
        jobs: Jobs,
        database: str,
        parent: QWidget | None = None,
        *,
        path: Path | None = None,
    ) -> None:
        super().__init__("Settings", jobs, parent)
        self.original = settings
        self.path = path
        self.new_database_url: str | None = None

        self.profile = QComboBox(self)
        self.profile.addItems(list(PROFILES))
        self.add_field("profile", "&Profile:", self.profile, "Picking a profile loads its defaults.")
        self.concurrency = QSpinBox(self)
        self.concurrency.setRange(1, 256)
        self.add_field("concurrency", "&Concurrency:", self.concurrency, "Tasks this window runs at once; applies now.")
        self.timeout = DurationEdit(self, 0.0, 7 * DAY)
        self.add_field("timeout_s", "Default &timeout:", self.timeout)
        self.max_retries = QSpinBox(self)
        self.max_retries.setRange(0, 100)
        self.add_field("max_retries", "Max &retries:", self.max_retries)
        self.retry_base = DurationEdit(self, 0.0, DAY)
        self.add_field("retry_base_s", "Retry &base delay:", self.retry_base)
        self.retry_cap = DurationEdit(self, 0.0, 7 * DAY)
        self.add_field("retry_cap_s", "Retry delay ca&p:", self.retry_cap)
        self.poll = DurationEdit(self, 0.0, 3600.0)
        self.add_field("poll_interval_s", "Poll &interval:", self.poll, "How often to look for work other programs queued.")
        self.grace = DurationEdit(self, 0.0, 3600.0)
        self.add_field("shutdown_grace_s", "Shutdown &grace:", self.grace)
        self.retention = DurationEdit(self, 0.0, 36_500 * DAY, default_unit_s=DAY)
        self.add_field("retention_days", "R&etention:", self.retention, "Finished tasks older than this can be cleaned up.")
        self.archive = QCheckBox("Archive them first (gzip JSON Lines in the data folder)", self)
        self.add_field("archive", "", self.archive, "agentq archive list / export read the archive.")
        self.log_level = QComboBox(self)
        self.log_level.addItems(LOG_LEVELS)
        self.add_field("log_level", "&Log level:", self.log_level)

        where = QWidget(self)
        row = QHBoxLayout(where)
        row.setContentsMargins(0, 0, 0, 0)
        self.database = QLineEdit(database, where)
        self.database.setReadOnly(True)
        self.database.setCursorPosition(0)
        self.open_other = QPushButton("Open another database…", where)
        self.open_other.clicked.connect(self._choose_database)
        self.use_server = QPushButton("PostgreSQL server…", where)
        self.use_server.setToolTip("Share one queue between machines: enter a postgresql:// URL")
        self.use_server.clicked.connect(self._choose_server)
        row.addWidget(self.database, 1)
        row.addWidget(self.open_other)
        row.addWidget(self.use_server)
        self.add_field("database_url", "Database:", where, "Another database is opened the next time Agent Queue starts.")
        api = QWidget(self)
        api_row = QHBoxLayout(api)
        api_row.setContentsMargins(0, 0, 0, 0)
        self.api_enabled = QCheckBox("Serve the HTTP API on this machine, port", api)
        self.api_port = QSpinBox(api)
        self.api_port.setRange(1, 65_535)
        api_row.addWidget(self.api_enabled)
        api_row.addWidget(self.api_port)
        api_row.addStretch(1)
        self.add_field("api_enabled", "&HTTP API:", api)
        self.api_hint = QLabel(self)
        self.api_hint.setWordWrap(True)
        self.api_hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.add_field("api_port", "", self.api_hint)
        self.api_port.valueChanged.connect(self._show_api_hint)
        self.api_enabled.toggled.connect(self._show_api_hint)
        self.start_minimized = QCheckBox("Start minimised to the tray", self)
        self.add_field("start_minimized", "", self.start_minimized)
        self.editor_command = QLineEdit(self)
        self.editor_command.setPlaceholderText("code {path}")
        self.add_field("editor_command", "&Editor command:", self.editor_command,
                       "Opens a task's worktree; {path} is the folder. Empty: $VISUAL.")
        self.terminal_command = QLineEdit(self)
        self.terminal_command.setPlaceholderText("the system's terminal")
        self.add_field("terminal_command", "Ter&minal command:", self.terminal_command,
                       "Opens a terminal in a task's worktree; {path} is the folder.")

        self._fill(settings)
        self.profile.currentTextChanged.connect(self._profile_changed)
        self.fit_size(600)

    def _fill(self, s: Settings) -> None:
        self.profile.setCurrentText(s.profile)
        self.concurrency.setValue(s.concurrency)
        self.timeout.setValue(s.timeout_s)
        self.max_retries.setValue(s.max_retries)
        self.retry_base.setValue(s.retry_base_s)
        self.retry_cap.setValue(s.retry_cap_s)
        self.poll.setValue(s.poll_interval_s)
        self.grace.setValue(s.shutdown_grace_s)
        self.retention.setValue(s.retention_days * DAY)
        self.log_level.setCurrentText(str(s.log_level).upper())
        self.start_minimized.setChecked(s.start_minimized)
        self.editor_command.setText(s.editor_command)
        self.terminal_command.setText(s.terminal_command)
        self.archive.setChecked(s.archive)
        self.api_enabled.setChecked(s.api_enabled)
        self.api_port.setValue(s.api_port or DEFAULT_API_PORT)
        self._show_api_hint()

    def _show_api_hint(self, *_: object) -> None:
        url = f"http://{DEFAULT_HOST}:{self.api_port.value()}"
        state = "Listens on" if self.api_enabled.isChecked() else "When on, listens on"
        self.api_hint.setText(
            f"{state} {url} (docs at {url}/docs), this machine only; {TOKEN_HINT} "
            "(run it in a terminal). Applies when saved."
        )

    def _profile_changed(self, name: str) -> None:
        base = PROFILES.get(name)
        if base is not None:
            self._fill(dataclasses.replace(
                base, start_minimized=self.start_minimized.isChecked(),
                editor_command=self.editor_command.text(), terminal_command=self.terminal_command.text(),
                api_enabled=self.api_enabled.isChecked(), api_port=self.api_port.value(),
            ))

    def _choose_database(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Open another database", self.database.text().removeprefix("sqlite:///"),
            "Agent Queue databases (*.db);;All files (*)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.new_database_url = f"sqlite:///{path}"
            self.database.setText(self.new_database_url + "  (after a restart)")

    def _choose_server(self) -> None:
        url, ok = QInputDialog.getText(
            self, "PostgreSQL server",
            "Database URL, e.g. postgresql://agentq:password@db.example.lan/agentq\n"
            "A password goes to the system keyring, never to the settings file.",
        )
        if not ok or not url.strip():
            return
        try:
            self.new_database_url = remember_password(url.strip())
        except TaskValidationError as exc:
            self.errors.show_validation(exc)
            return
        self.errors.clear("database_url")
        self.database.setText(display_url(self.new_database_url) + "  (after a restart)")

    def settings(self) -> Settings:
        """The settings as the form shows them, validated (TaskValidationError names the field)."""
        return dataclasses.replace(
            self.original,
            profile=self.profile.currentText(),
            concurrency=self.concurrency.value(),
            timeout_s=self.timeout.value(),
            max_retries=self.max_retries.value(),
            retry_base_s=self.retry_base.value(),
            retry_cap_s=self.retry_cap.value(),
            poll_interval_s=self.poll.value(),
            shutdown_grace_s=self.grace.value(),
            retention_days=self.retention.value() / DAY,
            log_level=self.log_level.currentText(),
            start_minimized=self.start_minimized.isChecked(),
            editor_command=self.editor_command.text().strip(),
            terminal_command=self.terminal_command.text().strip(),
            archive=self.archive.isChecked(),
            api_enabled=self.api_enabled.isChecked(),
            api_port=self.api_port.value(),
            database_url=self.new_database_url or self.original.database_url,
        ).validate()

    def collect(self) -> Callable[[], Any]:
        settings = self.settings()
        path = self.path

        def write() -> Settings:
            save_settings(settings, path)
            return settings

        return write

    def succeeded(self, result: Any) -> None:
        self.saved.emit(result)
        super().succeeded(result)
