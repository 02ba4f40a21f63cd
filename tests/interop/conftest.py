"""Fixtures for the DICOM tests: a real Orthanc PACS on free loopback ports, and dciodvfy."""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

CALLING_AET = "CEPHVIEW"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")  # Debian orthanc-dicomweb
ORTHANC_AET = "ORTHANC"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def data_store_file(name: str) -> Path:
    """A full-size real radiograph from the pydicom-data package."""
    spec = importlib.util.find_spec("data_store")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pydicom-data is not installed (pip install pydicom-data)")
    for root in spec.submodule_search_locations:
        found = next(Path(root).rglob(name), None)
        if found is not None:
            return found
    pytest.skip(f"{name} not found in pydicom-data")


def dciodvfy_errors(path: Path) -> list[str]:
    """The "Error" lines dciodvfy (Debian dicom3tools) prints for a file."""
    binary = shutil.which("dciodvfy")
    if binary is None:
        pytest.skip("dciodvfy not installed (Debian package dicom3tools)")
    run = subprocess.run([binary, str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


@dataclass
class Orthanc:
    http: str  # base URL of the REST API
    dicom_port: int
    move_port: int  # where the CEPHVIEW node (a storage SCP of the test) listens for C-MOVE
    storage: Path
    dicomweb: str | None = None  # the DICOMweb root, where the plugin is installed

    @property
    def server(self) -> str:
        return f"{ORTHANC_AET}@127.0.0.1:{self.dicom_port}"

    def rest(self, method: str, path: str, body: bytes | None = None):
        request = urllib.request.Request(self.http + path, data=body, method=method)
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read() or b"null")

    def upload(self, path: Path) -> dict:
        return self.rest("POST", "/instances", path.read_bytes())

    def lookup(self, uid: str) -> list[dict]:
        return self.rest("POST", "/tools/lookup", uid.encode())

    def instance_tags(self, orthanc_id: str) -> dict:
        return self.rest("GET", f"/instances/{orthanc_id}/simplified-tags")


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory) -> Orthanc:
    """Orthanc on free loopback ports with its own storage, stopped after the session.

    Our own instance only: a system Orthanc service, if the package started one, is not used.
    """
    binary = shutil.which("Orthanc")
    if binary is None:
        pytest.skip("Orthanc not installed (Debian package orthanc)")
    root = tmp_path_factory.mktemp("orthanc")
    http_port, dicom_port, move_port = free_port(), free_port(), free_port()
    config = {
        "Name": "cephview-test",
        "StorageDirectory": str(root / "db"),
        "IndexDirectory": str(root / "db"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ORTHANC_AET,
        "DicomCheckCalledAet": True,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "SslEnabled": False,
        "Plugins": [str(DICOMWEB_PLUGIN)] if DICOMWEB_PLUGIN.is_file() else [],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "DicomModalities": {"cephview": [CALLING_AET, "127.0.0.1", move_port]},
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomCheckModalityHost": False,
        "StorageCompression": False,
        "OverwriteInstances": True,
        "SaveJobs": False,
        "ConcurrentJobs": 1,
    }
    (root / "orthanc.json").write_text(json.dumps(config, indent=2))
    log = (root / "orthanc.log").open("w")
    process = subprocess.Popen([binary, str(root / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT,
                               cwd=root)
    server = Orthanc(f"http://127.0.0.1:{http_port}", dicom_port, move_port, root / "db",
                     f"http://127.0.0.1:{http_port}/dicom-web" if DICOMWEB_PLUGIN.is_file() else None)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                server.rest("GET", "/system")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(f"Orthanc did not start:\n{(root / 'orthanc.log').read_text()[-2000:]}")
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
