"""Pieces of the Training tab: the settings form, the progress and ETA of a run, the verdict's text.

The form starts at :class:`~cephview.model.finetune.settings.FinetuneSettings`' defaults and
returns one; nothing here decides anything about the model.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

if TYPE_CHECKING:  # fine-tuning imports torch: only once the tab is used
    from cephview.model.finetune.settings import FinetuneProgress, FinetuneResult, FinetuneSettings

# Share of the bar per phase: training dominates; the two evaluations take about as long as each other.
PHASE_SPAN = {"evaluating current": (0, 10), "training": (10, 90), "evaluating new": (90, 98), "saving": (98, 100)}


def fmt(value: float | None, unit: str) -> str:
    return f"{value:.2f} {unit}" if value is not None and math.isfinite(value) else "-"


class FinetuneForm(QWidget):
    """Epochs, learning rate, freeze encoder, scale adaptation and an optional base data folder: the settings that matter."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.defaults_loaded = False
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 500)
        self.epochs.setToolTip("Passes over the reviewed images, per stage of the model")
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(0.00001, 0.01)
        self.lr.setSingleStep(0.0001)
        self.lr.setToolTip("Small keeps what the model knows; larger learns your images faster but may forget")
        self.freeze = QCheckBox("Freeze encoder (faster, forgets less)")
        self.freeze.setToolTip("Train only the decoder; the encoder keeps what it learnt from the base data")
        self.adapt_scale = QCheckBox("Adapt to the device's image scale")
        self.adapt_scale.setToolTip(
            "Measure from your corrected landmarks how large your images draw the anatomy and re-scale the "
            "detail stage to it (helps most when your device's pixel size differs from the training images')")
        self.base_data = QLineEdit()
        self.base_data.setPlaceholderText("optional: ISBI 2015 folder")
        self.base_data.setToolTip(
            "Mixing in the original training images (given your images' contrast and scale) keeps the model from "
            "forgetting them and teaches it more anatomy than your reviewed images alone")
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._browse)
        numbers = QHBoxLayout()
        numbers.addWidget(self.epochs)
        numbers.addWidget(QLabel("learning rate"))
        numbers.addWidget(self.lr)
        numbers.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.base_data, 1)
        row.addWidget(self.browse)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Epochs", numbers)
        form.addRow("", self.freeze)
        form.addRow("", self.adapt_scale)
        form.addRow("Base data", row)

    def load_defaults(self) -> None:
        """Read when the tab is first shown, not at start-up: fine-tuning imports torch."""
        from cephview.model.finetune.settings import FinetuneSettings

        self.defaults_loaded = True
        defaults = FinetuneSettings()
        self.epochs.setValue(defaults.epochs)
        self.lr.setValue(defaults.lr)
        self.freeze.setChecked(defaults.freeze_encoder)
        self.adapt_scale.setChecked(defaults.adapt_scale)

    def settings(self) -> FinetuneSettings:
        from cephview.model.finetune.settings import FinetuneSettings

        if not self.defaults_loaded:
            self.load_defaults()
        return FinetuneSettings(epochs=self.epochs.value(), lr=self.lr.value(), freeze_encoder=self.freeze.isChecked(),
                                adapt_scale=self.adapt_scale.isChecked())

    def base_data_folder(self) -> str | None:
        return self.base_data.text().strip() or None

    def _browse(self) -> None:
        from cephview.gui import dialogs

        folder = dialogs.ask_open_folder(self, self.base_data.text(), "ISBI 2015 dataset folder to mix in")
        if folder:
            self.base_data.setText(folder)


class RunProgress:
    """Turns the run's progress reports into a percentage, an ETA and a line of text."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}

    def reset(self) -> None:
        self.started.clear()

    def update(self, p: FinetuneProgress, now: float | None = None) -> tuple[int, float | None, str]:
        now = time.monotonic() if now is None else now
        self.started.setdefault(p.phase, now)
        lo, hi = PHASE_SPAN.get(p.phase, (0, 100))
        fraction = p.done / p.total if p.total else 0.0
        eta = None
        text = p.message or p.phase
        if p.phase == "training" and p.train is not None:
            t = p.train
            elapsed = now - self.started["training"]
            if t.seconds_left is not None and elapsed + t.seconds_left > 0:
                fraction = elapsed / (elapsed + t.seconds_left)
                # the new model is then measured on the images the current one was measured on
                eta = t.seconds_left + self.phase_seconds("evaluating current")
            text = f"Training the {t.stage} stage: epoch {t.epoch} of {t.epochs}, loss {t.loss:.4f}"
        elif p.phase == "evaluating new" and p.done:
            eta = (now - self.started[p.phase]) / p.done * (p.total - p.done)
        return int(lo + (hi - lo) * min(1.0, fraction)), eta, text

    def phase_seconds(self, phase: str) -> float:
        phases = list(PHASE_SPAN)
        start = self.started.get(phase)
        later = [self.started[q] for q in phases[phases.index(phase) + 1:] if q in self.started]
        return (min(later) - start) if start is not None and later else 0.0


def result_html(r: FinetuneResult) -> str:
    """Both figures on the same held-out images, and what became of the new version."""
    change = r.relative_change
    pct = f" ({100 * change:+.1f} %)" if change is not None else ""
    where = "the training images (too few to hold any out)" if r.in_sample else f"{len(r.held_out)} held-out reviewed image(s)"
    verdict = (f"<b>{r.version.version} is now the active model</b>" if r.promoted
               else f"<b>{r.version.version} was kept aside</b>; {r.parent.version} stays active")
    note = f"<br><i>{r.note}</i>" if r.note else ""
    if r.scale is not None and r.scale.applied:
        note += f"<br>Your images draw the anatomy at {r.scale.scale:.2f}x the model's training images; the new version works at that scale."
    return (f"Mean radial error on {where}:<br>&nbsp;&nbsp;current ({r.parent.version}): <b>{fmt(r.before.mre, r.unit)}</b>"
            f"<br>&nbsp;&nbsp;new ({r.version.version}): <b>{fmt(r.after.mre, r.unit)}</b>{pct}<br>{verdict}: {r.reason}.{note}")
