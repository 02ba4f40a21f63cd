"""The PACS connection over DIMSE with pynetdicom: C-ECHO, C-FIND, C-GET / C-MOVE and C-STORE.

Every function opens one association, does its job and releases it; none touches Qt, so the CLI
calls them directly and the window through a worker thread. Failures a user can meet (server
down, association refused, nothing found, a store refused) raise :class:`PacsError` with one line.
Retrieved files land in the target folder only once the whole retrieval has succeeded.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    RLELossless,
)
from pynetdicom import AE, build_role, evt
from pynetdicom import sop_class as sc

from cephview.core.errors import CephviewError

log = logging.getLogger(__name__)

DEFAULT_CALLING_AET = "CEPHVIEW"
DEFAULT_TIMEOUT = 10.0
_SUCCESS, _PENDING = 0x0000, (0xFF00, 0xFF01)
_STORE_WARNINGS = (0xB000, 0xB006, 0xB007)  # stored, with coercion or elements discarded

# What a cephalometric study holds, and what cephview writes back into it.
RETRIEVE_STORAGE_CLASSES = (
    sc.ComputedRadiographyImageStorage,
    sc.DigitalXRayImageStorageForPresentation,
    sc.DigitalXRayImageStorageForProcessing,
    sc.DigitalIntraOralXRayImageStorageForPresentation,
    sc.SecondaryCaptureImageStorage,
    sc.MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    sc.MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    sc.GrayscaleSoftcopyPresentationStateStorage,
    sc.BasicTextSRStorage,
    sc.EnhancedSRStorage,
    sc.ComprehensiveSRStorage,
    sc.Comprehensive3DSRStorage,
    sc.KeyObjectSelectionDocumentStorage,
)
RETRIEVE_TRANSFER_SYNTAXES = (
    ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, JPEG2000Lossless, JPEG2000,
    JPEGLosslessSV1, JPEGBaseline8Bit, JPEGExtended12Bit, RLELossless,
)

_AET = re.compile(r"^[\x20-\x7e]{1,16}$")
_DATE_RANGE = re.compile(r"^(\d{8})?-(\d{8})?$|^\d{8}$")


class PacsError(CephviewError):
    """The PACS is down, refused, found nothing or failed a request."""


@dataclass(frozen=True)
class Server:
    """A DICOM node: ``AET@HOST:PORT``."""

    aet: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Server:
        match = re.fullmatch(r"(?P<aet>[^@]+)@(?P<host>\[[^\]]+\]|[^:@]+):(?P<port>\d+)", text.strip())
        if not match or not _AET.match(match["aet"]) or not 0 < int(match["port"]) < 65536:
            raise PacsError(f"--server {text!r}: expected AET@HOST:PORT, e.g. ORTHANC@pacs.clinic.local:4242 "
                            "(AE title 1 to 16 characters)")
        return cls(match["aet"], match["host"].strip("[]"), int(match["port"]))

    def __str__(self) -> str:
        return f"{self.aet}@{self.host}:{self.port}"


@dataclass(frozen=True)
class Connection:
    server: Server
    calling_aet: str = DEFAULT_CALLING_AET
    timeout: float = DEFAULT_TIMEOUT  # seconds, for connecting, association and each DIMSE reply

    def __post_init__(self) -> None:
        if not _AET.match(self.calling_aet):
            raise PacsError(f"calling AE title {self.calling_aet!r} must be 1 to 16 printable characters")
        if not self.timeout > 0:
            raise PacsError(f"timeout must be a positive number of seconds, got {self.timeout}")

    def application_entity(self) -> AE:
        ae = AE(ae_title=self.calling_aet)
        ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        return ae

    def associate(self, ae: AE, **kwargs):
        self._reachable()
        assoc = ae.associate(self.server.host, self.server.port, ae_title=self.server.aet, **kwargs)
        if assoc.is_established:
            return assoc
        if assoc.is_rejected:
            raise PacsError(f"{self.server}: the server refused the association (is {self.calling_aet} "
                            f"known to it, and is {self.server.aet} its AE title?)")
        if assoc.is_aborted:
            raise PacsError(f"{self.server}: the server aborted the association")
        raise PacsError(f"{self.server}: no DICOM server answers (down, wrong host or port, or a firewall)")


    def _reachable(self) -> None:
        """A TCP connection first: pynetdicom reports a refused connection as an aborted association."""
        try:
            socket.create_connection((self.server.host, self.server.port), timeout=self.timeout).close()
        except TimeoutError:
            raise PacsError(f"{self.server}: no answer within {self.timeout:g} s (down, wrong host, or a firewall)") from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise PacsError(f"{self.server}: cannot connect ({reason}); is the PACS running at that address?") from None


def _status(status: Dataset | None) -> int | None:
    return int(status.Status) if status is not None and "Status" in status else None


# ---------------------------------------------------------------- C-ECHO
def echo(conn: Connection) -> None:
    ae = conn.application_entity()
    ae.add_requested_context(sc.Verification)
    assoc = conn.associate(ae)
    try:
        status = _status(assoc.send_c_echo())
    finally:
        assoc.release()
    if status != _SUCCESS:
        raise PacsError(f"{conn.server}: C-ECHO failed ({_describe(status)})")


def _describe(status: int | None) -> str:
    return "no reply within the timeout" if status is None else f"status 0x{status:04X}"


# ---------------------------------------------------------------- C-FIND
STUDY_FIELDS = ("StudyInstanceUID", "PatientID", "PatientName", "StudyDate", "ModalitiesInStudy",
                "NumberOfStudyRelatedInstances", "StudyDescription", "AccessionNumber")


def find_studies(conn: Connection, patient_id: str | None = None, modality: str | None = None,
                 date_range: str | None = None) -> list[dict]:
    """Study Root C-FIND at STUDY level; one dict per study, in the server's order."""
    if date_range and not _DATE_RANGE.match(date_range):
        raise PacsError(f"--date {date_range!r}: expected YYYYMMDD, YYYYMMDD-YYYYMMDD, YYYYMMDD- or -YYYYMMDD")
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    for keyword in STUDY_FIELDS:
        setattr(query, keyword, "")
    query.PatientID = patient_id or ""
    query.ModalitiesInStudy = modality or ""
    query.StudyDate = date_range or ""
    ae = conn.application_entity()
    ae.add_requested_context(sc.StudyRootQueryRetrieveInformationModelFind)
    assoc = conn.associate(ae)
    studies, final = [], None
    try:
        for status, identifier in assoc.send_c_find(query, sc.StudyRootQueryRetrieveInformationModelFind):
            final = _status(status)
            if final in _PENDING and identifier is not None:
                studies.append(_study_dict(identifier))
    finally:
        assoc.release()
    if final != _SUCCESS:
        raise PacsError(f"{conn.server}: C-FIND failed ({_describe(final)})")
    return studies


def _study_dict(ds: Dataset) -> dict:
    def text(keyword: str) -> str:
        value = ds.get(keyword, "")
        if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
            return "\\".join(str(v) for v in value)
        return str(value or "")

    count = text("NumberOfStudyRelatedInstances")
    return {
        "StudyInstanceUID": text("StudyInstanceUID"), "PatientID": text("PatientID"),
        "PatientName": text("PatientName"), "StudyDate": text("StudyDate"),
        "ModalitiesInStudy": [m for m in text("ModalitiesInStudy").split("\\") if m],
        "NumberOfStudyRelatedInstances": int(count) if count.isdigit() else None,
        "StudyDescription": text("StudyDescription"), "AccessionNumber": text("AccessionNumber"),
    }


# ---------------------------------------------------------------- C-GET / C-MOVE
Progress = Callable[[int, int | None], None]  # (instances received, instances expected or None)


DEFAULT_LISTEN = ("127.0.0.1", 11113)  # the C-MOVE storage SCP: this computer only, unless the user names an address


def is_uid(text: str) -> bool:
    """A DICOM UID (digits and dots, at most 64): safe as a file name, where a server's text is not."""
    return re.fullmatch(r"[0-9.]{1,64}", text) is not None


class _Receiver:
    """Writes each received instance, as sent, into a staging folder."""

    def __init__(self, staging: Path, progress: Progress | None) -> None:
        self.staging, self.progress = staging, progress
        self.files: list[Path] = []
        self.expected: int | None = None
        self.lock = threading.Lock()

    def on_store(self, event) -> int:
        uid = str(event.request.AffectedSOPInstanceUID)
        if not is_uid(uid):
            return 0xA700  # refuse a name that is no UID rather than write it into a path
        path = self.staging / f"{uid}.dcm"
        path.write_bytes(event.encoded_dataset())
        with self.lock:
            self.files.append(path)
            count = len(self.files)
        if self.progress is not None:
            self.progress(count, self.expected)
        return _SUCCESS


def _retrieve_identifier(study_uid: str) -> Dataset:
    if not re.fullmatch(r"[0-9.]{1,64}", study_uid):
        raise PacsError(f"{study_uid!r} is not a Study Instance UID (digits and dots)")
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = study_uid
    return ds


class Cancelled(PacsError):
    """The user stopped a retrieval; nothing of it is kept."""


def _check_cancel(assoc, cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        assoc.abort()
        raise Cancelled("retrieval cancelled; nothing was kept")


def _run_get(conn: Connection, identifier: Dataset, receiver: _Receiver,
             cancel: threading.Event | None = None) -> tuple[int | None, int]:
    ae = conn.application_entity()
    ae.add_requested_context(sc.StudyRootQueryRetrieveInformationModelGet)
    # One context per compressed syntax: the server picks one transfer syntax per context, and one
    # that cannot transcode (Orthanc without a JPEG 2000 codec) must be able to send as stored.
    for uid in RETRIEVE_STORAGE_CLASSES:
        ae.add_requested_context(uid, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        for syntax in RETRIEVE_TRANSFER_SYNTAXES[2:]:
            ae.add_requested_context(uid, [syntax])
    roles = [build_role(uid, scp_role=True) for uid in RETRIEVE_STORAGE_CLASSES]
    assoc = conn.associate(ae, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, receiver.on_store)])
    final, failed = None, 0
    try:
        if not any(cx.abstract_syntax == sc.StudyRootQueryRetrieveInformationModelGet for cx in assoc.accepted_contexts):
            raise _NoGet()
        _check_cancel(assoc, cancel)
        final, failed = _follow(assoc, assoc.send_c_get(identifier, sc.StudyRootQueryRetrieveInformationModelGet),
                                receiver, cancel)
    finally:
        if assoc.is_established:
            assoc.release()
    return final, failed


def _follow(assoc, responses, receiver: _Receiver, cancel: threading.Event | None) -> tuple[int | None, int]:
    """Read a C-GET's or C-MOVE's pending responses: (final status, failed sub-operations), with
    the number of instances still expected kept on ``receiver`` for progress."""
    final, failed = None, 0
    for status, _ in responses:
        _check_cancel(assoc, cancel)
        final = _status(status)
        if status is not None:
            receiver.expected = _expected(status, len(receiver.files))
            failed = int(status.get("NumberOfFailedSuboperations", 0) or 0)
    return final, failed


def _expected(status: Dataset, done: int) -> int | None:
    remaining = status.get("NumberOfRemainingSuboperations")
    return done + int(remaining) if remaining is not None else None


class _NoGet(Exception):
    """The server does not accept C-GET: retrieve with C-MOVE instead."""


def start_storage_listener(conn: Connection, receiver: _Receiver, listen: tuple[str, int]):
    """The storage SCP that receives a C-MOVE's instances, for the length of one retrieve.

    It accepts associations only from the server's own AE title (the one the C-MOVE goes to:
    the AE a PACS stores from), and listens on ``listen`` (default this computer only)."""
    scp = conn.application_entity()
    scp.require_calling_aet = [conn.server.aet]
    for uid in RETRIEVE_STORAGE_CLASSES:
        scp.add_supported_context(uid, RETRIEVE_TRANSFER_SYNTAXES)
    try:
        return scp.start_server(listen, block=False, evt_handlers=[(evt.EVT_C_STORE, receiver.on_store)])
    except OSError as exc:
        raise PacsError(f"cannot listen on {listen[0] or '*'}:{listen[1]} for C-MOVE ({exc.strerror})") from None


def _run_move(conn: Connection, identifier: Dataset, receiver: _Receiver, listen: tuple[str, int],
              cancel: threading.Event | None = None) -> tuple[int | None, int]:
    server = start_storage_listener(conn, receiver, listen)
    try:
        ae = conn.application_entity()
        ae.add_requested_context(sc.StudyRootQueryRetrieveInformationModelMove)
        assoc = conn.associate(ae)
        final, failed = None, 0
        try:
            _check_cancel(assoc, cancel)
            final, failed = _follow(
                assoc, assoc.send_c_move(identifier, conn.calling_aet, sc.StudyRootQueryRetrieveInformationModelMove),
                receiver, cancel)
        finally:
            if assoc.is_established:
                assoc.release()
        if final == 0xA801:
            raise PacsError(f"{conn.server}: C-MOVE refused: the server does not know the destination "
                            f"{conn.calling_aet} (add it, with this computer's address and port {listen[1]}, "
                            "to the server's DICOM nodes)")
        return final, failed
    finally:
        server.shutdown()


def get_study(conn: Connection, study_uid: str, into: Path, method: str = "auto",
              listen: tuple[str, int] = DEFAULT_LISTEN, progress: Progress | None = None,
              cancel: threading.Event | None = None) -> list[Path]:
    """Retrieve every instance of a study into ``into`` as ``<SOPInstanceUID>.dcm``.

    ``method``: ``get`` (C-GET), ``move`` (C-MOVE to a storage SCP listening on ``listen``, which the
    server must know as the calling AE title; ``("", port)`` listens on every interface), or
    ``auto`` (C-GET, C-MOVE where the server refuses
    C-GET). Files appear in ``into`` only when the whole study arrived; on any failure nothing does.
    ``cancel`` set (from another thread) aborts the retrieval at the next reply: :class:`Cancelled`,
    and the partly received files go with the staging folder.
    """
    if method not in ("auto", "get", "move"):
        raise PacsError(f"unknown retrieve method {method!r}; choose auto, get or move")
    identifier = _retrieve_identifier(study_uid)
    into = Path(into)
    created = not into.exists()
    into.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".cephview-get-", dir=into))
    receiver = _Receiver(staging, progress)
    try:
        try:
            if method == "move":
                raise _NoGet()
            final, failed = _run_get(conn, identifier, receiver, cancel)
        except _NoGet:
            if method == "get":
                raise PacsError(f"{conn.server}: the server does not accept C-GET; retrieve with C-MOVE") from None
            log.info("%s does not accept C-GET; retrieving with C-MOVE", conn.server)
            final, failed = _run_move(conn, identifier, receiver, listen, cancel)
        if not receiver.files and not failed:
            # Servers answer an unknown study with success and nothing, or a failure status (Orthanc: 0xC000).
            raise PacsError(f"{conn.server}: study {study_uid} not found or empty ({_describe(final)})")
        if final not in (_SUCCESS, 0xB000) or failed:
            raise PacsError(f"{conn.server}: retrieval of study {study_uid} failed ({_describe(final)}, "
                            f"{failed} instance(s) not sent, {len(receiver.files)} received)")
        return move_into(receiver.files, into)
    except BaseException:
        if created:
            shutil.rmtree(into, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------- C-STORE
def send_files(conn: Connection, files: Sequence[Path], progress: Progress | None = None) -> list[str]:
    """C-STORE each file; returns the SOP Instance UIDs stored. Every file is read first, so an
    unreadable one stops the send before anything reaches the server."""
    datasets = []
    for path in files:
        try:
            ds = pydicom.dcmread(path)
        except FileNotFoundError:
            raise PacsError(f"{path}: no such file") from None
        except Exception as exc:
            raise PacsError(f"{path}: not a readable DICOM file ({exc})") from None
        if "SOPClassUID" not in ds or "SOPInstanceUID" not in ds:
            raise PacsError(f"{path}: lacks SOP Class or SOP Instance UID; not a storable DICOM object")
        datasets.append((Path(path), ds))
    if not datasets:
        raise PacsError("no files to send")
    contexts = _store_contexts(ds for _, ds in datasets)
    if len(contexts) > 128:
        raise PacsError("too many kinds of DICOM object for one association (over 128); send them in parts")
    ae = conn.application_entity()
    for sop_class, syntaxes in contexts:
        ae.add_requested_context(sop_class, syntaxes)
    assoc = conn.associate(ae)
    stored, failures = [], []
    try:
        for i, (path, ds) in enumerate(datasets):
            try:
                status = _status(_store(assoc, ds))
            except (ValueError, RuntimeError) as exc:  # no accepted context, or cannot be decoded
                failures.append(f"{path.name} ({exc})")
                continue
            if status == _SUCCESS or status in _STORE_WARNINGS:
                stored.append(str(ds.SOPInstanceUID))
            else:
                failures.append(f"{path.name} ({_describe(status)})")
            if progress is not None:
                progress(i + 1, len(datasets))
    finally:
        assoc.release()
    if failures:
        raise PacsError(f"{conn.server}: {len(failures)} of {len(datasets)} file(s) not stored: {', '.join(failures)}")
    return stored


def _store(assoc, ds: Dataset) -> Dataset | None:
    """C-STORE as encoded; decompressed where the server accepts only uncompressed data."""
    try:
        return assoc.send_c_store(ds)
    except ValueError:
        if not ds.file_meta.TransferSyntaxUID.is_compressed:
            raise
        log.info("%s: the server refuses %s; sending it uncompressed", ds.SOPInstanceUID,
                 ds.file_meta.TransferSyntaxUID.name)
        ds.decompress()
        return assoc.send_c_store(ds)


def _store_contexts(datasets: Iterable[Dataset]) -> list[tuple[str, list[str]]]:
    """One presentation context per SOP class and encoding (an acceptor picks one transfer syntax
    per context, so a compressed one must not share a context with the uncompressed), plus an
    uncompressed context per class for the server that refuses the compressed one."""
    contexts: dict[tuple[str, str], list[str]] = {}
    for ds in datasets:
        sop_class = str(ds.SOPClassUID)
        syntax = str(ds.file_meta.get("TransferSyntaxUID", ExplicitVRLittleEndian))
        contexts[sop_class, "uncompressed"] = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
        if syntax not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
            contexts[sop_class, syntax] = [syntax]
    return [(sop_class, syntaxes) for (sop_class, _), syntaxes in contexts.items()]


def move_into(staged: list[Path], into: Path) -> list[Path]:
    """Move a whole retrieved study from its staging folder into ``into``; the files' new paths, sorted."""
    final = []
    for path in staged:
        os.replace(path, into / path.name)
        final.append(into / path.name)
    return sorted(final)
