"""The first screen: what to do first, and the recent projects."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

WELCOME_TEXT = """
<h2>cephview</h2>
<p><b>Start here:</b> open a lateral cephalogram (DICOM, PNG, JPEG, TIFF or BMP), or a folder
of them. A folder becomes a project: its review work is kept in a <i>cephview.sqlite</i> file
beside the images. You can also drop files or a folder onto this window.</p>
<ol>
<li>The AI places the landmarks (yellow) in the background; the window stays usable.</li>
<li>Drag any landmark that is wrong. <b>Space</b> accepts the selected one and moves on,
<b>L</b> jumps to the next low-confidence landmark (red dashed ring).</li>
<li>Every change is saved at once; <b>Ctrl+Z</b> undoes it.</li>
<li>Export a CSV or an annotated PNG from the File menu.</li>
</ol>
"""


class WelcomeWidget(QWidget):
    openFilesRequested = Signal()
    openFolderRequested = Signal()
    recentRequested = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        text = QLabel(WELCOME_TEXT)
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        self.open_files = QPushButton("Open images…")
        self.open_folder = QPushButton("Open folder as project…")
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_files)
        buttons.addWidget(self.open_folder)
        buttons.addStretch(1)
        self.recent = QListWidget()
        self.recent.setMaximumHeight(160)
        self.recent_label = QLabel("<b>Recent projects</b>")
        column = QVBoxLayout()
        column.addWidget(text)
        column.addLayout(buttons)
        column.addSpacing(12)
        column.addWidget(self.recent_label)
        column.addWidget(self.recent)
        column.addStretch(1)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        inner = QWidget()
        inner.setLayout(column)
        inner.setMaximumWidth(640)
        outer.addWidget(inner, 4)
        outer.addStretch(1)
        self.open_files.clicked.connect(self.openFilesRequested)
        self.open_folder.clicked.connect(self.openFolderRequested)
        self.recent.itemActivated.connect(lambda item: self.recentRequested.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.recent.itemClicked.connect(lambda item: self.recentRequested.emit(item.data(Qt.ItemDataRole.UserRole)))

    def set_recent(self, folders: list[str]) -> None:
        self.recent.clear()
        for folder in folders:
            item = QListWidgetItem(f"{Path(folder).name}    ({folder})")
            item.setData(Qt.ItemDataRole.UserRole, folder)
            self.recent.addItem(item)
        self.recent.setVisible(bool(folders))
        self.recent_label.setVisible(bool(folders))
