"""The status bar's lasting parts: the AI's progress with Cancel, place mode, whose film it is,
what is wrong with its file, and a project that cannot be written."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar

from cephview.core.radiograph import Radiograph

DAMAGE_LABEL_WIDTH = 520  # px of the load warning shown in the status bar


class StatusWidgets:
    def __init__(self, bar: QStatusBar) -> None:
        self.bar = bar
        self.progress_label = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setMaximumWidth(160)
        self.cancel_button = QPushButton("Cancel")
        # Place mode is shown as long as it lasts (not a passing message): clicks place landmarks.
        self.mode_label = QLabel()
        self.mode_label.setObjectName("place-mode")
        self.mode_label.setStyleSheet(
            "QLabel { background: #ff6ef5; color: black; padding: 1px 6px; font-weight: bold; }")
        self.mode_label.setVisible(False)
        bar.addPermanentWidget(self.mode_label)  # a permanent widget: messages do not hide it
        # Whose film this is (DICOM only): shown here, never written into an export unasked.
        self.patient_label = QLabel()
        self.patient_label.setObjectName("patient")
        self.patient_label.setStyleSheet("QLabel { font-weight: bold; padding: 0 6px; }")
        self.patient_label.setVisible(False)
        bar.addPermanentWidget(self.patient_label)
        # What loading the open film found wrong (a damaged file that still loads): shown as long as
        # it is open, so the damage stays in sight after its first dialog and on later visits.
        self.damage_label = QLabel()
        self.damage_label.setObjectName("load-warning")
        self.damage_label.setTextFormat(Qt.TextFormat.PlainText)
        self.damage_label.setStyleSheet("QLabel { background: #ffd34d; color: black; padding: 1px 6px; }")
        self.damage_label.setVisible(False)
        bar.addPermanentWidget(self.damage_label)
        # A project this user cannot write (a share mounted read-only): said as long as it is open,
        # once, instead of a dialog for every AI result or view setting that cannot be stored.
        self.read_only_label = QLabel("Read-only project: edits are not saved")
        self.read_only_label.setObjectName("read-only")
        self.read_only_label.setToolTip("This user cannot write the project folder. The AI's landmarks are "
                                        "shown and measured for this session; edits are refused.")
        self.read_only_label.setStyleSheet("QLabel { background: #9ec9ff; color: black; padding: 1px 6px; }")
        self.read_only_label.setVisible(False)
        bar.addPermanentWidget(self.read_only_label)
        for w in (self.progress_label, self.progress_bar, self.cancel_button):
            bar.addPermanentWidget(w)
            w.setVisible(False)

    def show_message(self, text: str) -> None:
        if text:
            self.bar.showMessage(text, 6000)
        else:
            self.bar.clearMessage()

    def show_busy(self, busy: bool) -> None:
        for w in (self.progress_label, self.progress_bar, self.cancel_button):
            w.setVisible(busy)
        if busy:
            self.progress_bar.setValue(0)

    def show_progress(self, rel_path: str, percent: int, text: str, queued: int) -> None:
        more = f" (+{queued} queued)" if queued > 0 else ""
        self.progress_label.setText(f"{text}: {Path(rel_path).name}{more}")
        # percent 30..100 is the network itself: show it as busy rather than a frozen bar
        if 30 <= percent < 100:
            self.progress_bar.setRange(0, 0)
        else:
            self.progress_bar.setRange(0, 100)
            self.progress_bar.setValue(percent)

    def show_place_mode(self, on: bool, code: str) -> None:
        self.mode_label.setVisible(on)
        if on:
            self.mode_label.setText(f"Place mode: click to place {code or 'the selected landmark'} (P or Esc to stop)")

    def show_patient(self, radiograph: Radiograph | None) -> None:
        from cephview.analysis.report_data import patient_fields

        fields = patient_fields(radiograph.patient) if radiograph is not None else {}
        self.patient_label.setText("    ".join(f"{label}: {value}" for label, value in fields.items()))
        self.patient_label.setVisible(bool(fields))

    def show_read_only(self, read_only: bool) -> None:
        self.read_only_label.setVisible(read_only)

    def show_damage(self, radiograph: Radiograph | None) -> None:
        text = radiograph.warning_text if radiograph is not None else ""
        # elided to a width the status bar can hold; the whole text is in the tooltip (and the worklist's)
        shown = self.damage_label.fontMetrics().elidedText(
            f"Damaged file: {text}", Qt.TextElideMode.ElideRight, DAMAGE_LABEL_WIDTH) if text else ""
        self.damage_label.setText(shown)
        self.damage_label.setToolTip(text)
        self.damage_label.setVisible(bool(text))
