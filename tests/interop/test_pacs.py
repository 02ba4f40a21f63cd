"""The PACS connection against a real Orthanc (started by the ``orthanc`` fixture on loopback ports):
find, get (C-GET and C-MOVE), predict, export, validate, send, and read the SR back."""

from __future__ import annotations

import csv
import json

import pydicom
import pytest

from cephview.cli import main
from tests.interop.conftest import CALLING_AET, data_store_file, dciodvfy_errors, free_port


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.slow
def test_round_trip_find_get_predict_export_send_read_sr(orthanc, tmp_path, capsys):
    source = data_store_file("RG3_UNCR.dcm")  # a real CR radiograph
    header = pydicom.dcmread(source, stop_before_pixels=True)
    assert orthanc.upload(source)["Status"] in ("Success", "AlreadyStored")
    server = ["--server", orthanc.server, "--calling-aet", CALLING_AET]

    assert main(["pacs", "echo", *server]) == 0
    capsys.readouterr()
    assert main(["pacs", "find", *server, "--patient-id", header.PatientID, "--modality", "CR"]) == 0
    studies = [json.loads(line) for line in _lines(capsys.readouterr().out)]
    assert [s["StudyInstanceUID"] for s in studies] == [header.StudyInstanceUID]
    assert studies[0]["PatientID"] == header.PatientID and "CR" in studies[0]["ModalitiesInStudy"]
    assert studies[0]["NumberOfStudyRelatedInstances"] >= 1

    into = tmp_path / "project"
    assert main(["pacs", "get", header.StudyInstanceUID, *server, "--into", str(into), "--method", "get"]) == 0
    image = into / f"{header.SOPInstanceUID}.dcm"
    assert image.is_file() and pydicom.dcmread(image).SOPInstanceUID == header.SOPInstanceUID
    assert not [p for p in into.iterdir() if p.name.startswith(".")]  # no staging folder left

    predictions, out = tmp_path / "pred.csv", tmp_path / "dicom"
    assert main(["predict", str(image), "--out", str(predictions)]) == 0
    assert main(["export-dicom", str(image), "--annotations", str(predictions), "--out", str(out),
                 "--analyses", "steiner,downs"]) == 0
    stem = image.stem
    sr, pr = out / f"{stem}.SR.dcm", out / f"{stem}.PR.dcm"
    for path in (sr, pr):
        assert dciodvfy_errors(path) == [], path.name

    assert main(["pacs", "send", str(sr), str(pr), *server]) == 0
    held = {}
    for path in (sr, pr):
        uid = pydicom.dcmread(path).SOPInstanceUID
        found = [r for r in orthanc.lookup(uid) if r["Type"] == "Instance"]
        assert len(found) == 1, path.name
        tags = orthanc.instance_tags(found[0]["ID"])
        held[tags["Modality"]] = tags
    assert set(held) == {"SR", "PR"}
    for tags in held.values():  # filed under the source's patient and study
        assert tags["StudyInstanceUID"] == header.StudyInstanceUID and tags["PatientID"] == header.PatientID

    back = tmp_path / "back.csv"
    assert main(["read-sr", str(sr), "--out", str(back)]) == 0
    with open(predictions, newline="") as f:
        predicted = {(r["image"], r["landmark"]): (r["x_px"], r["y_px"], r["confidence"]) for r in csv.DictReader(f)}
    with open(back, newline="") as f:
        read = {(r["image"], r["landmark"]): (r["x_px"], r["y_px"], r["confidence"]) for r in csv.DictReader(f)}
    assert read == predicted  # same image name, every landmark, to the last digit


@pytest.mark.slow
def test_get_by_c_move_to_our_storage_scp(orthanc, isbi_root, tmp_path, capsys):
    """A study that cephview made (Secondary Capture + SR + GSPS of an ISBI image) comes back by C-MOVE."""
    from cephview.core.csvio import write_predictions_csv
    from cephview.core.datasets import read_isbi2015

    item = read_isbi2015(isbi_root, "train").images[1]
    csv_path = tmp_path / "pts.csv"
    write_predictions_csv(csv_path, [(item.name, c, x, y, 0.8) for c, (x, y) in
                                     zip(read_isbi2015(isbi_root, "train").schema.codes, item.points)])
    out = tmp_path / "dicom"
    assert main(["export-dicom", str(item.image_path), "--annotations", str(csv_path), "--out", str(out),
                 "--patient-id", "MOVE-1", "--patient-name", "Test^Move"]) == 0
    files = sorted(out.iterdir())
    server = ["--server", orthanc.server]
    assert main(["pacs", "send", *[str(p) for p in files], *server]) == 0
    study = pydicom.dcmread(files[0]).StudyInstanceUID
    into = tmp_path / "moved"
    capsys.readouterr()
    assert main(["pacs", "get", study, *server, "--into", str(into), "--method", "move",
                 "--listen", f"127.0.0.1:{orthanc.move_port}"]) == 0
    sent = {pydicom.dcmread(p).SOPInstanceUID for p in files}
    assert {p.stem for p in into.iterdir()} == sent
    assert _lines(capsys.readouterr().out) == sorted(str(into / f"{uid}.dcm") for uid in sent)


def _one_line_error(capsys) -> str:
    err = _lines(capsys.readouterr().err)
    assert len(err) == 1, err
    assert err[0].startswith("cephview: error: ")
    return err[0]


def test_server_down_is_one_line_exit_2(tmp_path, capsys):
    port = free_port()  # nothing listens there
    assert main(["pacs", "echo", "--server", f"ORTHANC@127.0.0.1:{port}", "--timeout", "3"]) == 2
    assert "cannot connect" in _one_line_error(capsys)
    into = tmp_path / "new"
    assert main(["pacs", "get", "1.2.3", "--server", f"ORTHANC@127.0.0.1:{port}", "--into", str(into)]) == 2
    _one_line_error(capsys)
    assert not into.exists()


def test_refused_empty_and_unknown_are_one_line_exit_2(orthanc, tmp_path, capsys):
    assert main(["pacs", "echo", "--server", f"NOTORTHANC@127.0.0.1:{orthanc.dicom_port}"]) == 2
    assert "refused the association" in _one_line_error(capsys)

    assert main(["pacs", "find", "--server", orthanc.server, "--patient-id", "NO-SUCH-PATIENT"]) == 2
    assert "no study matches" in _one_line_error(capsys)

    into = tmp_path / "project"
    into.mkdir()
    (into / "kept.txt").write_text("the user's own file")
    assert main(["pacs", "get", "1.2.826.0.1.999.1", "--server", orthanc.server, "--into", str(into)]) == 2
    assert "not found or empty" in _one_line_error(capsys)
    assert [p.name for p in into.iterdir()] == ["kept.txt"]  # nothing half-written, nothing removed

    not_dicom = tmp_path / "notes.txt"
    not_dicom.write_text("hello")
    assert main(["pacs", "send", str(not_dicom), "--server", orthanc.server]) == 2
    assert "not a readable DICOM file" in _one_line_error(capsys)

    assert main(["pacs", "find", "--server", orthanc.server, "--date", "last week"]) == 2
    assert "--date" in _one_line_error(capsys)


def test_compressed_image_travels_in_its_own_transfer_syntax(orthanc, tmp_path, capsys):
    """A JPEG 2000 CR goes to the PACS and comes back by C-GET without being decoded on the way."""
    source = data_store_file("RG3_J2KR.dcm")
    original = pydicom.dcmread(source)
    assert main(["pacs", "send", str(source), "--server", orthanc.server]) == 0
    into = tmp_path / "j2k"
    assert main(["pacs", "get", original.StudyInstanceUID, "--server", orthanc.server, "--into", str(into)]) == 0
    back = pydicom.dcmread(into / f"{original.SOPInstanceUID}.dcm")
    assert back.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    assert back.PixelData == original.PixelData


def test_dicomweb_send_find_get(orthanc, isbi_root, tmp_path, capsys):
    """The same commands with a DICOMweb URL as --server: STOW-RS, QIDO-RS, WADO-RS."""
    if orthanc.dicomweb is None:
        pytest.skip("Orthanc's DICOMweb plugin is not installed (Debian package orthanc-dicomweb)")
    from cephview.core.csvio import write_predictions_csv
    from cephview.core.datasets import read_isbi2015

    data = read_isbi2015(isbi_root, "train")
    item = data.images[3]
    csv_path = tmp_path / "pts.csv"
    write_predictions_csv(csv_path, [(item.name, c, x, y, 0.9) for c, (x, y) in zip(data.schema.codes, item.points)])
    out = tmp_path / "dicom"
    assert main(["export-dicom", str(item.image_path), "--annotations", str(csv_path), "--out", str(out),
                 "--analyses", "steiner", "--patient-id", "WEB-1"]) == 0
    files = sorted(out.iterdir())
    web = ["--server", orthanc.dicomweb]
    assert main(["pacs", "echo", *web]) == 0
    assert main(["pacs", "send", *[str(p) for p in files], *web]) == 0
    capsys.readouterr()
    assert main(["pacs", "find", *web, "--patient-id", "WEB-1"]) == 0
    studies = [json.loads(line) for line in _lines(capsys.readouterr().out)]
    study = pydicom.dcmread(files[0]).StudyInstanceUID
    assert [s["StudyInstanceUID"] for s in studies] == [study]
    assert sorted(studies[0]["ModalitiesInStudy"]) == ["OT", "PR", "SR"]
    into = tmp_path / "web"
    assert main(["pacs", "get", study, *web, "--into", str(into)]) == 0
    assert {p.stem for p in into.iterdir()} == {pydicom.dcmread(p).SOPInstanceUID for p in files}
    assert main(["pacs", "get", "1.2.826.0.1.999.2", *web, "--into", str(tmp_path / "none")]) == 2
    assert "not found" in _one_line_error(capsys)
    assert not (tmp_path / "none").exists()
