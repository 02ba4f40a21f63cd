"""The project store's patients and visits: which patient each film belongs to and its date.

Mixed into :class:`cephview.core.store.ProjectStore`. A film's patient and date come from its
DICOM header when it has them (read once, the first time the project looks), otherwise the user
assigns them; a value the user set is never replaced by what a file says.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from cephview.core.store_schema import IMAGE_COLUMNS
from cephview.core.visits import FROM_DICOM, FROM_USER, Visit, clean_patient_id, parse_date, visit_from_dicom

log = logging.getLogger(__name__)

_UNSET: Any = object()


class VisitsMixin:
    """Patients and visit dates of a :class:`ProjectStore` (uses its connection helpers)."""

    def visit(self, rel_path) -> Visit | None:
        """The film's patient and date; None if the image is not in the project."""
        rows = self._query("SELECT patient_id, acquired_on, visit_source FROM images WHERE rel_path = ?",
                           (self.key(rel_path),))
        return Visit(*rows[0]) if rows else None

    def visits(self) -> dict[str, Visit]:
        """rel_path -> Visit of every image."""
        rows = self._query("SELECT rel_path, patient_id, acquired_on, visit_source FROM images")
        return {r[0]: Visit(r[1], r[2], r[3]) for r in rows}

    def set_visit(self, rel_path, *, patient_id: str | None = _UNSET, date: str | None = _UNSET) -> Visit:
        """Assign the patient and/or date by hand (``None`` clears); returns the stored visit.

        Raises CephviewError for a date that is not ``YYYY-MM-DD`` (or DICOM's ``YYYYMMDD``)."""
        fields: dict[str, Any] = {}
        if patient_id is not _UNSET:
            fields["patient_id"] = clean_patient_id(patient_id)
        if date is not _UNSET:
            fields["acquired_on"] = parse_date(date)
        with self._tx() as conn:
            image_id = self._image_id(conn, rel_path)
            if fields:
                assignments = ", ".join(f"{name} = ?" for name in fields)  # names are ours
                conn.execute(f"UPDATE images SET {assignments}, visit_source = ? WHERE id = ?",
                             (*fields.values(), FROM_USER, image_id))
            row = conn.execute("SELECT patient_id, acquired_on, visit_source FROM images WHERE id = ?",
                               (image_id,)).fetchone()
        return Visit(*row)

    def read_visits_from_files(self, rel_paths: Iterable[str] | None = None) -> int:
        """Read patient and date from the files not looked at yet (DICOM headers only; other
        files are marked as holding none). Returns how many films got a patient or date."""
        wanted = None if rel_paths is None else {self.key(p) for p in rel_paths}
        todo = [r[0] for r in self._query("SELECT rel_path FROM images WHERE visit_source IS NULL")
                if wanted is None or r[0] in wanted]
        read = []
        for rel_path in todo:
            path = self.resolve(rel_path)
            if path.is_file():  # a file gone for now is looked at again next time
                read.append((rel_path, visit_from_dicom(path)))
        if read:
            with self._tx() as conn:  # one transaction: one disk sync for the whole folder
                # a value the user assigned meanwhile wins over the file
                conn.executemany("UPDATE images SET patient_id = ?, acquired_on = ?, visit_source = ?"
                                 " WHERE rel_path = ? AND visit_source IS NULL",
                                 [(v.patient_id, v.date, v.source, rel_path) for rel_path, v in read])
        found = sum(v.source == FROM_DICOM for _, v in read)
        if read:
            log.info("read patient and date of %d films (%d from DICOM)", len(read), found)
        return found

    def patient_films(self, patient_id: str) -> list:
        """The patient's films (ImageRecords), earliest first; undated films last, by path."""
        rows = self._query(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE patient_id = ?"
            " ORDER BY acquired_on IS NULL, acquired_on COLLATE BINARY, rel_path COLLATE BINARY", (patient_id,))
        return [self._record(r) for r in rows]
