"""The same four PACS jobs over DICOMweb (QIDO-RS, WADO-RS, STOW-RS) with dicomweb-client, for
servers reached by URL (``https://pacs.clinic/dicom-web``) rather than by AE title and port.

Errors, study dicts and file naming are those of :mod:`cephview.interop.pacs`, so the command line
treats both alike.
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset

from cephview.interop.pacs import (
    _DATE_RANGE,
    DEFAULT_TIMEOUT,
    STUDY_FIELDS,
    PacsError,
    _retrieve_identifier,
    _study_dict,
    is_uid,
    move_into,
)

log = logging.getLogger(__name__)


def is_dicomweb(server: str) -> bool:
    return server.strip().lower().startswith(("http://", "https://"))


class DicomWeb:
    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url.strip().rstrip("/")
        session = requests.Session()
        session.request = functools.partial(session.request, timeout=timeout)  # type: ignore[method-assign]
        self.client = DICOMwebClient(self.url, session=session)

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except requests.ConnectionError:
            raise PacsError(f"{self.url}: cannot connect; is the DICOMweb server running at that address?") from None
        except requests.Timeout:
            raise PacsError(f"{self.url}: no answer within the timeout") from None
        except requests.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else "?"
            if code in (401, 403):
                raise PacsError(f"{self.url}: the server refused {what} (HTTP {code}: not authorised)") from None
            reason = ": not found" if code == 404 else ""
            raise PacsError(f"{self.url}: {what} failed (HTTP {code}{reason})") from None

    def echo(self) -> None:
        self._call("the search", self.client.search_for_studies, limit=1)

    def find_studies(self, patient_id: str | None = None, modality: str | None = None,
                     date_range: str | None = None) -> list[dict]:
        if date_range and not _DATE_RANGE.match(date_range):
            raise PacsError(f"--date {date_range!r}: expected YYYYMMDD, YYYYMMDD-YYYYMMDD, YYYYMMDD- or -YYYYMMDD")
        filters = {k: v for k, v in (("PatientID", patient_id), ("ModalitiesInStudy", modality),
                                     ("StudyDate", date_range)) if v}
        found = self._call("the search", self.client.search_for_studies, search_filters=filters,
                           fields=list(STUDY_FIELDS)) or []
        return [_study_dict(Dataset.from_json(study)) for study in found]

    def get_study(self, study_uid: str, into: Path) -> list[Path]:
        """WADO-RS of a whole study, as stored (any transfer syntax); all or nothing into ``into``."""
        _retrieve_identifier(study_uid)  # checks the UID
        into = Path(into)
        created = not into.exists()
        into.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".cephview-get-", dir=into))
        try:
            staged = []
            instances = self._call("the retrieval", self.client.retrieve_study, study_uid,
                                   media_types=(("application/dicom", "*"),))
            for ds in instances or []:
                uid = str(ds.get("SOPInstanceUID", ""))
                if not is_uid(uid):  # a server's text never becomes a path unchecked
                    raise PacsError(f"{self.url}: the server sent an instance whose SOP Instance UID {uid[:80]!r} "
                                    "is no UID; nothing was saved")
                path = staging / f"{uid}.dcm"
                ds.save_as(path, enforce_file_format=True)
                staged.append(path)
            if not staged:
                raise PacsError(f"{self.url}: study {study_uid} not found or empty")
            return move_into(staged, into)
        except BaseException:
            if created:
                shutil.rmtree(into, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def send_files(self, files: Sequence[Path]) -> list[str]:
        datasets = []
        for path in files:
            try:
                datasets.append(pydicom.dcmread(path))
            except FileNotFoundError:
                raise PacsError(f"{path}: no such file") from None
            except Exception as exc:
                raise PacsError(f"{path}: not a readable DICOM file ({exc})") from None
        if not datasets:
            raise PacsError("no files to send")
        reply = self._call("the store", self.client.store_instances, datasets)
        failed = reply.get("FailedSOPSequence") if reply is not None else None
        if failed:
            raise PacsError(f"{self.url}: {len(failed)} of {len(datasets)} file(s) not stored")
        return [str(ds.SOPInstanceUID) for ds in datasets]
