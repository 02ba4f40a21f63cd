"""What a PACS (or anyone on the network) may do to this computer: a server's SOP Instance UID never
becomes a path unchecked, and the C-MOVE storage listener takes files only from the server it asked,
on this computer's loopback unless the user names an address."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE

from cephview.cli_pacs import _listen
from cephview.interop.pacs import Connection, PacsError, Server, _Receiver, start_storage_listener
from tests.interop.conftest import data_store_file, free_port


def _instance_with_uid(uid: str) -> bytes:
    ds = pydicom.dcmread(data_store_file("RG3_UNCR.dcm"))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture
def hostile_dicomweb():
    """A WADO-RS server on 127.0.0.1 whose study holds an instance named ``../../escaped``."""
    body = _instance_with_uid("../../escaped")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            boundary = "cephview-test-boundary"
            payload = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + body
                       + f"\r\n--{boundary}--\r\n".encode())
            self.send_response(200)
            self.send_header("Content-Type", f'multipart/related; type="application/dicom"; boundary={boundary}')
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/dicom-web"
    server.shutdown()
    server.server_close()


def test_dicomweb_get_refuses_an_instance_whose_uid_is_a_path(hostile_dicomweb, tmp_path):
    from cephview.interop.dicomweb import DicomWeb

    into = tmp_path / "study" / "sub"
    with pytest.raises(PacsError, match="is no UID") as caught:
        DicomWeb(hostile_dicomweb, timeout=10).get_study("1.2.3.4", into)
    assert "\n" not in str(caught.value)
    assert list(tmp_path.rglob("*.dcm")) == [] and not into.exists()  # nothing written, inside or outside


def _store_from(aet: str, port: int, uid: str) -> int | None:
    ae = AE(ae_title=aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ds = pydicom.dcmread(data_store_file("RG3_UNCR.dcm"))
    ds.SOPInstanceUID = uid
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port)
    if not assoc.is_established:
        return None
    try:
        status = assoc.send_c_store(ds)
        return int(status.Status)
    finally:
        assoc.release()


def test_move_listener_is_loopback_by_default_and_takes_files_only_from_the_server(tmp_path):
    assert _listen("11113") == ("127.0.0.1", 11113)  # a bare port: this computer only
    assert _listen("0.0.0.0:11113") == ("0.0.0.0", 11113)  # all interfaces only when asked
    conn = Connection(Server("THEPACS", "127.0.0.1", free_port()), calling_aet="CEPHVIEW", timeout=10)
    receiver = _Receiver(tmp_path, None)
    port = free_port()
    server = start_storage_listener(conn, receiver, _listen(str(port)))
    try:
        assert server.server_address[0] == "127.0.0.1"
        assert _store_from("INTRUDER", port, "1.2.3.4.5") is None  # another AE title: association rejected
        assert _store_from("THEPACS", port, "1.2.3.4.6") == 0x0000
        assert _store_from("THEPACS", port, "1.2.3/../7") != 0x0000  # no UID: refused, not written
    finally:
        server.shutdown()
    assert [p.name for p in tmp_path.iterdir()] == ["1.2.3.4.6.dcm"]


def _study_in_orthanc(orthanc, tmp_path, count: int = 3) -> tuple[str, Connection]:
    """``count`` CR instances of one new study, stored in Orthanc."""
    from cephview.interop.pacs import send_files

    study = pydicom.uid.generate_uid()
    files = []
    for i in range(count):
        ds = pydicom.dcmread(data_store_file("RG3_UNCR.dcm"))
        ds.StudyInstanceUID, ds.PatientID = study, "CANCEL-1"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        files.append(tmp_path / f"src{i}.dcm")
        ds.save_as(files[-1])
    conn = Connection(Server.parse(orthanc.server), timeout=20)
    send_files(conn, files)
    return study, conn


@pytest.mark.slow
def test_a_cancelled_retrieval_keeps_nothing(orthanc, tmp_path):
    from cephview.interop.pacs import Cancelled, get_study

    study, conn = _study_in_orthanc(orthanc, tmp_path)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        get_study(conn, study, tmp_path / "before", cancel=cancel)
    assert not (tmp_path / "before").exists()

    kept = tmp_path / "project"
    kept.mkdir()
    (kept / "film.png").write_bytes(b"x")
    cancel = threading.Event()
    with pytest.raises(Cancelled):  # stopped after the first instance arrived
        get_study(conn, study, kept, method="get", progress=lambda n, total: cancel.set(), cancel=cancel)
    assert [p.name for p in kept.iterdir()] == ["film.png"]  # no staging folder, no partial file
    assert len(get_study(conn, study, tmp_path / "whole")) == 3  # the association was not left broken
