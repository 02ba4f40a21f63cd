"""Opening projects and images, recent projects, and exports: the file side of the main window.

A folder becomes a project (a ``cephview.sqlite`` store inside it); loose files open in a
project in their own folder. A file that cannot be read is added with status ``error`` and
its reason, and the rest of the folder still opens.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from cephview.core.errors import CephviewError
from cephview.core.radiograph import load_radiograph
from cephview.core.store import DB_NAME, ProjectStore
from cephview.gui import dialogs
from cephview.gui.export import export_csv, render_png

log = logging.getLogger(__name__)
MAX_RECENT = 8


class ProjectMixin:
    """Mixed into :class:`~cephview.gui.main_window.MainWindow`; uses its widgets and session."""

    # ---- recent projects -----------------------------------------------------------------
    def recent_projects(self) -> list[str]:
        value = self.settings.value("recent_projects", [])
        if isinstance(value, str):
            value = [value]
        return [v for v in (value or []) if Path(v).is_dir()]

    def _add_recent(self, folder: Path) -> None:
        folders = [str(folder)] + [f for f in self.recent_projects() if f != str(folder)]
        self.settings.setValue("recent_projects", folders[:MAX_RECENT])
        self.welcome.set_recent(folders[:MAX_RECENT])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = self.recent_projects()
        if not folders:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
        for folder in folders:
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda _=False, f=folder: self.open_paths([f]))

    # ---- opening -------------------------------------------------------------------------
    def _start_folder(self) -> str:
        if self.session.store is not None:
            return str(self.session.store.folder)
        recent = self.recent_projects()
        return recent[0] if recent else ""

    def ask_open_files(self) -> None:
        files = dialogs.ask_open_files(self, self._start_folder())
        if files:
            self.open_paths(files)

    def ask_open_folder(self) -> None:
        folder = dialogs.ask_open_folder(self, self._start_folder())
        if folder:
            self.open_paths([folder])

    def open_paths(self, paths) -> bool:
        """Open files and/or a folder (``cephview PATH...``, the dialogs, drag and drop)."""
        from cephview.core.inputs import expand_inputs
        from cephview.core.store import is_database_url

        urls = [str(p) for p in paths if is_database_url(str(p))]
        if urls:  # a project on a database server (one project at a time)
            from cephview.gui.live_sync import open_database_project

            return open_database_project(self, urls[0])
        paths = [Path(p).expanduser() for p in paths]
        absent = [p for p in paths if not p.exists()]
        if absent:
            self.show_error("Not found", "These paths do not exist: " + ", ".join(map(str, absent)),
                            "Check the spelling, or whether the drive is connected.")
        paths = [p.resolve() for p in paths if p.exists()]
        if not paths:
            return False
        folders = [p for p in paths if p.is_dir()]
        if folders:
            folder = folders[0]
            if len(folders) > 1 or len(folders) != len(paths):
                self._show_message(f"Opened the folder {folder.name} only: one project at a time")
            files = expand_inputs([str(folder)])
            if not files and not (folder / DB_NAME).exists():  # nothing to review: no project made
                self.show_error("No radiographs here", f"{folder} holds no DICOM, PNG, JPEG, TIFF or BMP file",
                                "Choose the folder that holds the cephalograms.")
                return False
            return self.open_project(folder, files, open_first_added=False)
        return self.open_project(paths[0].parent, paths, open_first_added=True)

    def open_project(self, folder: Path, files=(), open_first_added: bool = True) -> bool:
        folder = Path(folder).resolve()
        if self.session.store is None or Path(self.session.store.folder) != folder:
            self.close_project()
            try:
                store = ProjectStore.open(folder, create=True)
            except CephviewError as exc:
                self.show_error("The project cannot be opened", str(exc))
                return False
            self.session.set_store(store)
            self.controller.clear_stacks()
        store = self.session.store
        added = []
        if store.read_only:  # a read-only folder: what the project holds can be viewed, nothing added
            self._show_message(f"{folder.name} is read-only here: the project opens to view, edits are not saved")
            files = [f for f in files if store.image(f) is not None] if open_first_added else []
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            for f in files:
                try:
                    added.append(store.add_image(f))
                except (CephviewError, OSError) as exc:
                    self.show_error("Image not added", str(exc))
        finally:
            QApplication.restoreOverrideCursor()
        records = store.images()
        self.worklist.set_records(records)
        self._add_recent(folder)
        self.setWindowTitle(f"cephview: {folder.name}")
        readable = [r for r in (added if open_first_added else records) if r.status.value != "error"]
        if not open_first_added:  # a folder: start with the first image still to review
            readable = [r for r in readable if r.status.value != "reviewed"] or readable
        self._update_enabled()
        if readable:
            return self.open_image(readable[0].rel_path)
        if added and open_first_added:
            self.show_error("Image not opened", f"{added[0].name}: {added[0].error or 'not readable'}",
                            "Check that the file is a DICOM, PNG, JPEG, TIFF or BMP radiograph.")
        return bool(records)

    def close_project(self) -> None:
        self.table.finish_editing()
        self._save_view()
        store = self.session.store
        self.prediction.cancel()
        self._background_failures.clear()  # they name this project's files
        self.prefetcher.clear()
        self.session.set_store(None)
        self.controller.clear_stacks()
        self.worklist.set_records([])
        self.viewer.set_image(None)
        if store is not None:
            store.close()
        self._update_enabled()

    def open_image(self, rel_path: str) -> bool:
        store = self.session.store
        record = store.image(rel_path) if store is not None else None
        if record is None:
            return False
        if rel_path == self.session.rel_path:
            return True
        self.table.finish_editing()
        self._save_view()
        if record.status.value == "error" and record.format is None:
            self.show_error("Image not opened", f"{record.name}: {record.error}",
                            "Check that the file is a DICOM, PNG, JPEG, TIFF or BMP radiograph.")
            return False
        path = store.resolve(record)
        try:
            radiograph = self.prefetcher.take(path) or load_radiograph(path)
        except CephviewError as exc:
            self.session.record_error(rel_path, getattr(exc, "reason", str(exc)))
            self.show_error("Image not opened", str(exc),
                            "Check that the file is a DICOM, PNG, JPEG, TIFF or BMP radiograph.")
            return False
        self._loading = True
        try:
            self.ruler.cancel()
            self.ruler.finish()
            self.session.open_image(rel_path, radiograph)
            self.viewer.set_image(radiograph, self.session.annotation.view)
            self.controls.set_radiograph(radiograph)
        finally:
            self._loading = False
        self.worklist.select(rel_path)
        self.setWindowTitle(f"cephview: {store.folder.name} / {record.name}")
        self._update_enabled()
        ann = self.session.annotation
        wants_heatmap = self.overlay.enabled and not self.overlay.available
        if (not ann.has_prediction and record.status.value != "error") or wants_heatmap:
            if not self.prediction.model_failed:
                self.predict_current()
        self._prefetch_next(rel_path)
        if radiograph.warnings:  # damaged but usable: loaded, and said so
            self.show_error("Damaged image", f"{record.name}: {radiograph.warnings[0]}")
        return True

    def _prefetch_next(self, rel_path: str) -> None:
        """Start decoding the image after this one in the worklist: "next image" is the usual step."""
        store = self.session.store
        following = self.worklist.neighbour(rel_path, 1)
        record = store.image(following) if store is not None and following else None
        if record is not None and record.status.value != "error":
            self.prefetcher.prefetch(store.resolve(record))

    def predict_all(self) -> int:
        """Queue every image not predicted yet; the worker reads each file itself. Returns the count."""
        store = self.session.store
        if store is None:
            return 0
        todo = [r for r in store.images() if r.status.value == "not_predicted"]
        self.batch.start([r.rel_path for r in todo])
        for record in todo:
            if record.rel_path not in self.prediction.pending_paths():
                self.prediction.request(record.rel_path, store.resolve(record), urgent=False)
        self._show_message(f"Finding landmarks on {len(todo)} image(s) in the background" if todo
                           else "Every image already has AI landmarks")
        return len(todo)

    def step_image(self, delta: int) -> None:
        target = self.worklist.neighbour(self.session.rel_path, delta)
        if target:
            self.open_image(target)

    def _on_store_changed(self, rel_path: str) -> None:
        store = self.session.store
        record = store.image(rel_path) if store is not None else None
        if record is not None:
            self.worklist.update_record(record)

    # ---- export --------------------------------------------------------------------------
    def _export(self, title: str, suggestion: Path, filter_text: str, write) -> str | None:
        path = dialogs.ask_save_path(self, title, str(suggestion), filter_text)
        if not path:
            return None
        try:
            write(path)
        except (OSError, CephviewError) as exc:
            self.show_error("Export failed", str(exc), "Choose another folder or file name.")
            return None
        self._show_message(f"Saved {path}")
        return path

    def export_current_csv(self) -> str | None:
        if not self.session.is_open:
            return None
        ann = self.session.annotation
        suggestion = self.session.store.folder / f"{Path(ann.image).stem}_landmarks.csv"
        return self._export("Export landmarks (CSV)", suggestion, "CSV (*.csv)", lambda p: export_csv(p, [ann]))

    def export_project_csv(self) -> str | None:
        store = self.session.store
        if store is None:
            return None
        suggestion = store.folder / f"{store.folder.name}_landmarks.csv"

        def write(path: str) -> None:
            from cephview.core.project_calibration import record_file_calibrations

            record_file_calibrations(store)  # DICOMs never opened here: their own pixel size, for mm
            export_csv(path, store.all_annotations())

        return self._export("Export landmarks of the project (CSV)", suggestion, "CSV (*.csv)", write)

    def apply_calibration_to_device(self) -> list[str]:
        """Give the open image's calibration to every uncalibrated image taken the same way
        (same DICOM device and size, or the same folder); images with their own keep it."""
        from cephview.core.project_calibration import apply_to_device, describe_device, device_key

        s = self.session
        if not s.is_open or not s.annotation.calibration.is_calibrated:
            self.show_error("No calibration to apply", "This image is not calibrated.",
                            "Calibrate it first with Tools > Calibrate with ruler.")
            return []
        record = s.store.image(s.rel_path)
        where = describe_device(device_key(s.store.resolve(record), record.format))
        try:
            changed, kept = apply_to_device(s.store, s.rel_path, s.annotation.calibration)
        except (OSError, CephviewError, ValueError) as exc:
            self.show_error("Calibration not applied", str(exc))
            return []
        for rel_path in changed:
            s.storeChanged.emit(rel_path)
        cal = s.annotation.calibration
        own = f"; {len(kept)} keep their own" if kept else ""
        self._show_message(f"Calibration {cal.col_mm:.4g} mm/px applied to {len(changed)} image(s) of {where}{own}")
        return changed

    def export_report_pdf(self) -> str | None:
        """The report PDF of the open image, written by the function ``cephview report`` uses, with
        the window's norm set and window/level. Patient identifiers only if the user says so."""
        if not self.session.is_open:
            return None
        from cephview.gui.export import display_image
        from cephview.gui.report_pdf import write_report_pdf

        s = self.session
        include_patient = False
        if s.radiograph.patient:
            answer = dialogs.ask_include_patient(self)
            if answer is None:
                return None
            include_patient = answer
        suggestion = s.store.folder / f"{Path(s.annotation.image).stem}_report.pdf"
        shown = display_image(s.radiograph, self.viewer.view_state())
        return self._export("Export report (PDF)", suggestion, "PDF (*.pdf)",
                            lambda p: write_report_pdf(s.annotation, s.radiograph, p, norm_set=self.live.norm_set,
                                                       include_patient=include_patient, display_image=shown))

    def export_png(self) -> str | None:
        if not self.session.is_open:
            return None
        s = self.session
        suggestion = s.store.folder / f"{Path(s.annotation.image).stem}_landmarks.png"
        return self._export("Export image with landmarks (PNG)", suggestion, "PNG image (*.png)",
                            lambda p: render_png(p, s.radiograph, s.annotation, self.viewer.view_state(),
                                                 labels=self.layer.labels_visible))
