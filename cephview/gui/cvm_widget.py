"""CVM stage picker (Baccetti / McNamara CS1-CS6) with the staging criteria beside each stage.

Choosing a stage emits ``stageChosen``; the owner turns it into an undo command. The widget
follows the session's ``cvmStageChanged`` with its signals blocked, so nothing echoes back.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QGridLayout, QLabel, QRadioButton, QVBoxLayout, QWidget

from cephview.core.annotations import CVM_STAGES
from cephview.gui.session import ReviewSession

# (concavity on the lower border of, C3 and C4 body shape, maturation phase)
CRITERIA = {
    "CS1": ("none of C2-C4", "trapezoid", "prepubertal"),
    "CS2": ("C2", "trapezoid", "prepubertal"),
    "CS3": ("C2, C3", "trapezoid or horizontal rectangle", "pubertal peak"),
    "CS4": ("C2, C3, C4", "horizontal rectangle", "pubertal peak"),
    "CS5": ("C2, C3, C4", "at least one square", "postpubertal"),
    "CS6": ("C2, C3, C4", "at least one vertical rectangle", "postpubertal"),
}


class CvmWidget(QWidget):
    stageChosen = Signal(object)  # "CS1".."CS6" or None

    def __init__(self, session: ReviewSession, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.group = QButtonGroup(self)
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        self.buttons: dict[str | None, QRadioButton] = {}
        for row, stage in enumerate(CVM_STAGES):
            concavity, shape, phase = CRITERIA[stage]
            button = QRadioButton(stage)
            button.setToolTip(phase)
            self.group.addButton(button, row + 1)
            self.buttons[stage] = button
            text = QLabel(f"Concavity at the lower border of: {concavity}. C3 and C4 bodies: {shape}. <i>{phase}</i>")
            text.setWordWrap(True)
            grid.addWidget(button, row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(text, row, 1)
        none = QRadioButton("Not staged")
        self.group.addButton(none, 0)
        self.buttons[None] = none
        grid.addWidget(none, len(CVM_STAGES), 0, 1, 2)
        note = QLabel(
            "A concavity counts when it is at least about 7 % of the border's chord deep; "
            "'square' when height and width agree within about 10 %. Experts agree on the stage "
            "only 50-70 % of the time: record your own reading."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: gray")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(grid)
        layout.addWidget(note)
        layout.addStretch(1)
        self.group.idClicked.connect(self._on_clicked)
        session.imageChanged.connect(self._sync)
        session.cvmStageChanged.connect(self._sync)
        self._sync()

    def _on_clicked(self, button_id: int) -> None:
        self.stageChosen.emit(CVM_STAGES[button_id - 1] if button_id > 0 else None)

    def _sync(self) -> None:
        ann = self.session.annotation
        self.setEnabled(ann is not None)
        stage = ann.cvm_stage if ann is not None else None
        with QSignalBlocker(self.group):
            self.buttons.get(stage, self.buttons[None]).setChecked(True)
