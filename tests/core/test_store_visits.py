"""Patients and visits in the project store: migration from version 3, DICOM headers, user values."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

from cephview.core.errors import CephviewError
from cephview.core.store import DB_NAME, ProjectStore
from cephview.core.store_schema import MIGRATIONS, SCHEMA_VERSION
from cephview.core.visits import FROM_DICOM, FROM_USER, NOT_IN_FILE, Visit, parse_date


def write_film(path: Path, seed: int = 0, **tags) -> Path:
    """A small real DICOM DX file with the given header values."""
    pixels = np.random.default_rng(seed).integers(0, 4095, (64, 48), dtype=np.uint16)
    ds = Dataset()
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.set_pixel_data(pixels, "MONOCHROME2", 12)
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


def write_png(path: Path, seed: int = 0) -> Path:
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (64, 48), dtype=np.uint8)).save(path)
    return path


def test_parse_date():
    assert parse_date("20240131") == "2024-01-31"
    assert parse_date(" 2024-01-31 ") == "2024-01-31"
    assert parse_date("") is None
    with pytest.raises(CephviewError, match="not a date"):
        parse_date("2024-02-30")


def test_a_version_3_project_is_migrated_and_keeps_its_data(tmp_path):
    """A database as the previous release wrote it opens, upgrades to v4 and loses nothing."""
    write_png(tmp_path / "a.png")
    conn = sqlite3.connect(tmp_path / DB_NAME)
    for statements in MIGRATIONS[:3]:
        for statement in statements:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO images (rel_path, sha256, width, height, added_at, status, schema, reviewed)"
                 " VALUES ('a.png', 'x', 48, 64, '2025-01-01', 'reviewed', 'isbi2015', 1)")
    conn.execute("INSERT INTO landmarks (image_id, code, x, y, status) VALUES (1, 'S', 10.5, 20.25, 'manual')")
    conn.commit()
    conn.close()
    with ProjectStore.open(tmp_path) as store:
        assert store.schema_version == SCHEMA_VERSION > 3
        ann = store.load_annotation("a.png")
        assert ann.reviewed and (ann.landmarks["S"].x, ann.landmarks["S"].y) == (10.5, 20.25)
        assert store.visit("a.png") == Visit(None, None, None)
        store.set_visit("a.png", patient_id="P-7", date="2023-05-02")
    with ProjectStore.open(tmp_path) as store:  # and opens again at v4 without a second upgrade
        assert store.visit("a.png") == Visit("P-7", "2023-05-02", FROM_USER)


def test_patient_and_date_come_from_dicom_headers(tmp_path):
    write_film(tmp_path / "t0.dcm", 0, PatientID="CEPH-1", StudyDate="20220110", AcquisitionDate="20220111")
    write_film(tmp_path / "t1.dcm", 1, PatientID="CEPH-1", StudyDate="20240305")  # no acquisition date
    write_film(tmp_path / "anon.dcm", 2)
    write_png(tmp_path / "photo.png")
    with ProjectStore.open(tmp_path) as store:
        for name in ("t0.dcm", "t1.dcm", "anon.dcm", "photo.png"):
            store.add_image(tmp_path / name)
        assert store.read_visits_from_files() == 2
        assert store.visit("t0.dcm") == Visit("CEPH-1", "2022-01-11", FROM_DICOM)  # acquisition date first
        assert store.visit("t1.dcm") == Visit("CEPH-1", "2024-03-05", FROM_DICOM)
        assert store.visit("anon.dcm") == Visit(None, None, NOT_IN_FILE)
        assert store.visit("photo.png") == Visit(None, None, NOT_IN_FILE)
        assert [r.rel_path for r in store.patient_films("CEPH-1")] == ["t0.dcm", "t1.dcm"]
        assert store.read_visits_from_files() == 0  # read once


def test_user_values_win_over_the_file_and_order_the_films(tmp_path):
    write_film(tmp_path / "late.dcm", 0, PatientID="CEPH-2", StudyDate="20250101")
    for name in ("early.png", "undated.png"):
        write_png(tmp_path / name, seed=len(name))
    with ProjectStore.open(tmp_path) as store:
        for name in ("late.dcm", "early.png", "undated.png"):
            store.add_image(tmp_path / name)
        store.set_visit("late.dcm", patient_id="CEPH-2b")  # the user corrects it before the file is read
        store.read_visits_from_files()
        assert store.visit("late.dcm") == Visit("CEPH-2b", None, FROM_USER)
        store.set_visit("late.dcm", date="20250101")
        store.set_visit("early.png", patient_id="CEPH-2b", date="2021-06-30")
        store.set_visit("undated.png", patient_id="CEPH-2b")
        assert [r.rel_path for r in store.patient_films("CEPH-2b")] == ["early.png", "late.dcm", "undated.png"]
        with pytest.raises(CephviewError, match="not a date"):
            store.set_visit("early.png", date="30.06.2021")
        assert store.visit("early.png").date == "2021-06-30"  # a refused edit changes nothing
        with pytest.raises(CephviewError, match="not in this project"):
            store.set_visit("nowhere.png", patient_id="x")
        assert store.visits()["undated.png"] == Visit("CEPH-2b", None, FROM_USER)
