"""Opening projects and images, and recent projects: the file side of the review.

A folder becomes a project (a ``cephview.sqlite`` store inside it); loose files open in a
project in their own folder. A file that cannot be read is added with status ``error`` and
its reason, and the rest of the folder still opens.

:class:`ProjectController` touches no widget of the window: it works on the session, the worklist
and the services it is given, and says what the window should show through its signals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtWidgets import QApplication, QMenu, QWidget

from cephview.core.errors import CephviewError
from cephview.core.radiograph import load_radiograph
from cephview.core.store import DB_NAME, ProjectStore
from cephview.gui import dialogs
from cephview.gui.image_display import ImageDisplay
from cephview.gui.prediction_results import PredictionResults
from cephview.gui.prefetch import RadiographPrefetcher
from cephview.gui.review_controller import ReviewController
from cephview.gui.session import ReviewSession
from cephview.gui.view_state import ViewState
from cephview.gui.worklist import Worklist

log = logging.getLogger(__name__)
MAX_RECENT = 8
NOT_A_RADIOGRAPH = "Check that the file is a DICOM, PNG, JPEG, TIFF or BMP radiograph."


def open_project_store(folder: Path) -> ProjectStore:
    return ProjectStore.open(folder, create=True)


class ProjectController(QObject):
    """Opens and closes projects and images.

    Signals
    -------
    message(str)
        For the status bar.
    error(str, str, str)
        Title, message and advice of an error the user must see.
    titleChanged(str)
        The window title: the project, and the open image.
    recentChanged(list)
        The recent project folders, newest first.
    leavingImage()
        Another image (or none) is about to open: finish what is being typed about this one.
    """

    message = Signal(str)
    error = Signal(str, str, str)
    titleChanged = Signal(str)
    recentChanged = Signal(list)
    leavingImage = Signal()

    def __init__(
        self, session: ReviewSession, review: ReviewController, worklist: Worklist, predictions: PredictionResults,
        display: ImageDisplay, prefetcher: RadiographPrefetcher, view_state: ViewState, settings: QSettings,
        dialog_parent: QWidget, open_store: Callable[[Path], ProjectStore] = open_project_store,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.review = review
        self.worklist = worklist
        self.predictions = predictions
        self.display = display
        self.prefetcher = prefetcher
        self.view_state = view_state
        self.settings = settings
        self.dialog_parent = dialog_parent
        self.open_store = open_store
        # Damage already shown in a dialog, per image: a read-only project cannot record it, and
        # must not stop at a box on every visit either.
        self._damage_shown: dict[str, str] = {}
        session.storeChanged.connect(self._on_store_changed)

    # ---- recent projects -----------------------------------------------------------------
    def recent_projects(self) -> list[str]:
        value = self.settings.value("recent_projects", [])
        if isinstance(value, str):
            value = [value]
        return [v for v in (value or []) if Path(v).is_dir()]

    def _add_recent(self, folder: Path) -> None:
        folders = [str(folder)] + [f for f in self.recent_projects() if f != str(folder)]
        self.settings.setValue("recent_projects", folders[:MAX_RECENT])
        self.recentChanged.emit(folders[:MAX_RECENT])

    def fill_recent_menu(self, menu: QMenu) -> None:
        menu.clear()
        folders = self.recent_projects()
        if not folders:
            menu.addAction("(none yet)").setEnabled(False)
        for folder in folders:
            action = menu.addAction(folder)
            action.triggered.connect(lambda _=False, f=folder: self.open_paths([f]))

    # ---- opening -------------------------------------------------------------------------
    def start_folder(self) -> str:
        if self.session.store is not None:
            return str(self.session.store.folder)
        recent = self.recent_projects()
        return recent[0] if recent else ""

    def ask_open_files(self) -> None:
        files = dialogs.ask_open_files(self.dialog_parent, self.start_folder())
        if files:
            self.open_paths(files)

    def ask_open_folder(self) -> None:
        folder = dialogs.ask_open_folder(self.dialog_parent, self.start_folder())
        if folder:
            self.open_paths([folder])

    def open_paths(self, paths) -> bool:
        """Open files and/or a folder (``cephview PATH...``, the dialogs, drag and drop)."""
        from cephview.core.inputs import expand_inputs
        from cephview.core.store import is_database_url

        urls = [str(p) for p in paths if is_database_url(str(p))]
        if urls:  # a project on a database server (one project at a time)
            return self.open_database_project(urls[0])
        paths = [Path(p).expanduser() for p in paths]
        absent = [p for p in paths if not p.exists()]
        if absent:
            self.error.emit("Not found", "These paths do not exist: " + ", ".join(map(str, absent)),
                            "Check the spelling, or whether the drive is connected.")
        paths = [p.resolve() for p in paths if p.exists()]
        if not paths:
            return False
        folders = [p for p in paths if p.is_dir()]
        if folders:
            folder = folders[0]
            if len(folders) > 1 or len(folders) != len(paths):
                self.message.emit(f"Opened the folder {folder.name} only: one project at a time")
            files = expand_inputs([str(folder)])
            if not files and not (folder / DB_NAME).exists():  # nothing to review: no project made
                self.error.emit("No radiographs here", f"{folder} holds no DICOM, PNG, JPEG, TIFF or BMP file",
                                "Choose the folder that holds the cephalograms.")
                return False
            return self.open_project(folder, files, open_first_added=False)
        return self.open_project(paths[0].parent, paths, open_first_added=True)

    def open_project(self, folder: Path, files=(), open_first_added: bool = True) -> bool:
        folder = Path(folder).resolve()
        if self.session.store is None or Path(self.session.store.folder) != folder:
            self.close_project()
            try:
                store = self.open_store(folder)
            except CephviewError as exc:
                self.error.emit("The project cannot be opened", str(exc), "")
                return False
            self.session.set_store(store)
            self.review.clear_stacks()
        store = self.session.store
        added = []
        if self.session.read_only:  # a read-only folder: what the project holds can be viewed, nothing added
            self.message.emit(f"{folder.name} is read-only here: the project opens to view, edits are not saved")
            files = [f for f in files if store.image(f) is not None] if open_first_added else []
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            for f in files:
                try:
                    added.append(store.add_image(f))
                except (CephviewError, OSError) as exc:
                    self.error.emit("Image not added", str(exc), "")
        finally:
            QApplication.restoreOverrideCursor()
        records = store.images()
        self.worklist.set_records(records)
        self._add_recent(folder)
        self.titleChanged.emit(f"cephview: {self._project_name(folder.name)}")
        readable = [r for r in (added if open_first_added else records) if r.status.value != "error"]
        if not open_first_added:  # a folder: start with the first image still to review
            readable = [r for r in readable if r.status.value != "reviewed"] or readable
        if readable:
            return self.open_image(readable[0].rel_path)
        if added and open_first_added:
            self.error.emit("Image not opened", f"{added[0].name}: {added[0].error or 'not readable'}",
                            NOT_A_RADIOGRAPH)
        return bool(records)

    def open_database_project(self, url: str) -> bool:
        """Open a project shared on a database server (``cephview postgresql://...``).

        The project must exist (``cephview project init URL``): a typo in the URL must not make an
        empty project. A URL that cannot be opened is a dialog, never a local project instead."""
        self.close_project()
        try:
            store = ProjectStore.open(url, create=False)
        except CephviewError as exc:
            self.error.emit("The project cannot be opened", str(exc),
                            "Check the address, the user name and password, and that the server is reachable.")
            return False
        self.session.set_store(store)
        self.review.clear_stacks()
        records = store.images()
        self.worklist.set_records(records)
        self.titleChanged.emit(f"cephview: {self._project_name(store.path)}")
        readable = [r for r in records if r.status.value != "error"]
        readable = [r for r in readable if r.status.value != "reviewed"] or readable
        return self.open_image(readable[0].rel_path) if readable else bool(records)

    def close_project(self) -> None:
        self.leavingImage.emit()
        store = self.session.store
        self.predictions.cancel_all()
        self.prefetcher.clear()
        self._damage_shown.clear()
        self.session.set_store(None)
        self.review.clear_stacks()
        self.worklist.set_records([])
        self.display.clear()
        if store is not None:
            store.close()

    def open_image(self, rel_path: str) -> bool:
        store = self.session.store
        record = store.image(rel_path) if store is not None else None
        if record is None:
            return False
        if rel_path == self.session.rel_path:
            return True
        self.leavingImage.emit()
        if record.status.value == "error" and record.format is None:
            self.error.emit("Image not opened", f"{record.name}: {record.error}", NOT_A_RADIOGRAPH)
            return False
        path = store.resolve(record)
        try:
            radiograph = self.prefetcher.take(path) or load_radiograph(path)
        except CephviewError as exc:
            self.session.record_error(rel_path, getattr(exc, "reason", str(exc)))
            self.error.emit("Image not opened", str(exc), NOT_A_RADIOGRAPH)
            return False
        with self.display.loading():
            self.session.open_image(rel_path, radiograph)
            self.display.show(radiograph)
        self.session.record_load_warning(rel_path, radiograph.warnings)  # the worklist marks a damaged file
        self.worklist.select(rel_path)
        damaged = " (damaged)" if radiograph.warnings else ""
        self.titleChanged.emit(f"cephview: {self._project_name(store.folder.name)} / {record.name}{damaged}")
        ann = self.session.annotation
        wants_heatmap = self.view_state.heatmap_shown and self.session.heatmaps() is None
        if (not ann.has_prediction and record.status.value != "error") or wants_heatmap:
            if not self.predictions.service.model_failed:
                self.predictions.predict_current()
        self._prefetch_next(rel_path)
        # Damaged but usable: loaded, and said so. A box only when the damage is news to the project;
        # damage it already knew stays in the status bar and the worklist, no box on every visit.
        damage = radiograph.warning_text
        if damage and damage not in (record.warning, self._damage_shown.get(rel_path)):
            if self.session.read_only:  # a writable project remembers it in the record
                self._damage_shown[rel_path] = damage
            self.error.emit("Damaged image", f"{record.name}: {radiograph.warnings[0]}", "")
        return True

    def _project_name(self, name: object) -> str:
        """The project in the window title: one nothing can be saved in says so as long as it is open."""
        return f"{name} (read-only)" if self.session.read_only else str(name)

    def _prefetch_next(self, rel_path: str) -> None:
        """Start decoding the image after this one in the worklist: "next image" is the usual step."""
        store = self.session.store
        following = self.worklist.neighbour(rel_path, 1)
        record = store.image(following) if store is not None and following else None
        if record is not None and record.status.value != "error":
            self.prefetcher.prefetch(store.resolve(record))

    def step_image(self, delta: int) -> None:
        target = self.worklist.neighbour(self.session.rel_path, delta)
        if target:
            self.open_image(target)

    def _on_store_changed(self, rel_path: str) -> None:
        store = self.session.store
        record = store.image(rel_path) if store is not None else None
        if record is not None:
            self.worklist.update_record(record)

    # ---- the project's calibration -------------------------------------------------------
    def apply_calibration_to_device(self) -> list[str]:
        """Give the open image's calibration to every uncalibrated image taken the same way
        (same DICOM device and size, or the same folder); images with their own keep it."""
        from cephview.core.project_calibration import apply_to_device, describe_device, device_key

        s = self.session
        if not s.is_open or not s.annotation.calibration.is_calibrated:
            self.error.emit("No calibration to apply", "This image is not calibrated.",
                            "Calibrate it first with Tools > Calibrate with ruler.")
            return []
        record = s.store.image(s.rel_path)
        where = describe_device(device_key(s.store.resolve(record), record.format))
        try:
            changed, kept = apply_to_device(s.store, s.rel_path, s.annotation.calibration)
        except (OSError, CephviewError, ValueError) as exc:
            self.error.emit("Calibration not applied", str(exc), "")
            return []
        for rel_path in changed:
            s.storeChanged.emit(rel_path)
        cal = s.annotation.calibration
        own = f"; {len(kept)} keep their own" if kept else ""
        self.message.emit(f"Calibration {cal.col_mm:.4g} mm/px applied to {len(changed)} image(s) of {where}{own}")
        return changed
