"""Fuzzing the loader: any byte string gives a consistent Radiograph or UnreadableImageError.

Seeds are small valid PNG, JPEG, BMP, TIFF and DICOM files; hypothesis flips, overwrites,
inserts, deletes and truncates their bytes. Anything but those two outcomes is a bug: a user
opening a damaged file must see a one-line reason, never a traceback.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, RLELossless, generate_uid

from cephview.core.errors import UnreadableImageError
from cephview.core.pixels import MIN_SIDE
from cephview.core.radiograph import Radiograph, load_radiograph

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),  # pydicom warns about every odd element
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
]

# CEPHVIEW_FUZZ_EXAMPLES=5000 for a longer hunt; 150 keeps the suite fast.
FUZZ = settings(
    max_examples=int(os.environ.get("CEPHVIEW_FUZZ_EXAMPLES", "150")), deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _image(shape=(40, 48), dtype=np.uint8) -> np.ndarray:
    top = np.iinfo(dtype).max
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    return ((x * 7 + y * 13) % 97 * (top // 97)).astype(dtype)


def _encode(ext: str, image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


def _tiff(image: np.ndarray, **options) -> bytes:
    out = io.BytesIO()
    tifffile.imwrite(out, image, **options)
    return out.getvalue()


def _dicom(syntax=ExplicitVRLittleEndian, photometric: str = "MONOCHROME2") -> bytes:
    ds = Dataset()
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.PatientName = "Fuzz^Patient"
    ds.set_pixel_data(_image(dtype=np.uint16) // 16, photometric, 12)
    ds.WindowCenter, ds.WindowWidth = [2048, 1000], [4096, 500]
    ds.ImagerPixelSpacing = [0.1, 0.1]
    ds.EstimatedRadiographicMagnificationFactor = 1.1
    ds.RescaleSlope, ds.RescaleIntercept = 1, -100
    if syntax != ExplicitVRLittleEndian:
        ds.compress(syntax)
    ds.file_meta = ds.get("file_meta", FileMetaDataset())
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _bmp_palette() -> bytes:
    out = io.BytesIO()
    Image.fromarray(_image()).convert("P").save(out, format="BMP")
    return out.getvalue()


SEEDS: dict[str, bytes] = {
    "png8": _encode(".png", _image()),
    "png16": _encode(".png", _image(dtype=np.uint16)),
    "png_rgb": _encode(".png", np.dstack([_image()] * 3)),
    "jpeg": _encode(".jpg", _image()),
    "bmp": _encode(".bmp", _image()),
    "bmp_palette": _bmp_palette(),
    "tiff16": _tiff(_image(dtype=np.uint16)),
    "tiff16_min_is_white_zlib": _tiff(_image(dtype=np.uint16), photometric="miniswhite", compression="zlib"),
    "dicom": _dicom(),
    "dicom_mono1_rle": _dicom(RLELossless, "MONOCHROME1"),
}


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "input.img"


def check(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        r = load_radiograph(path)
    except UnreadableImageError as err:
        message = str(err)
        assert "\n" not in message and str(path) in message and err.reason
        return
    assert isinstance(r, Radiograph)
    assert r.pixels.ndim == 2 and min(r.pixels.shape) >= MIN_SIDE
    assert r.pixels.dtype in (np.uint8, np.uint16, np.float32)
    assert r.model_pixels.shape == r.display.shape == r.pixels.shape
    assert r.model_pixels.dtype == r.display.dtype == np.uint8
    assert "Fuzz" not in repr(r.metadata)


def test_seeds_are_valid(fuzz_file):
    for name, data in SEEDS.items():
        fuzz_file.write_bytes(data)
        r = load_radiograph(fuzz_file)
        assert r.pixels.shape == (40, 48), name


@st.composite
def mutations(draw) -> bytes:
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 6))):
        if len(data) <= 8:
            break
        # Headers hold the interesting fields, so half the edits land in the first 400 bytes;
        # the magic bytes are spared (other tests cover them) so edits reach the decoders.
        end = len(data) - 1 if draw(st.booleans()) else min(len(data) - 1, 400)
        pos = draw(st.integers(8, end))
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "zero_run"]))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[pos] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF]))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        else:
            run = draw(st.integers(1, 64))
            data[pos : pos + run] = bytes(len(data[pos : pos + run]))
    return bytes(data)


@st.composite
def truncations(draw) -> bytes:
    data = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
    return data[: draw(st.integers(0, len(data) - 1))]


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes(fuzz_file, data):
    check(fuzz_file, data)


@FUZZ
@given(prefix=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM",
                               bytes(128) + b"DICM"]),
       tail=st.binary(max_size=1024))
def test_magic_then_random_bytes(fuzz_file, prefix, tail):
    check(fuzz_file, prefix + tail)


@pytest.mark.slow
@FUZZ
@given(data=mutations())
def test_mutated_files(fuzz_file, data):
    check(fuzz_file, data)


@FUZZ
@given(data=truncations())
def test_truncated_files(fuzz_file, data):
    check(fuzz_file, data)


# ---- mutated real files: the campaign of scripts/fuzz_inputs.py, a few hundred inputs ----------
REAL_INPUTS = int(os.environ.get("CEPHVIEW_FUZZ_REAL", "200"))


@pytest.fixture(scope="module")
def campaign():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "fuzz_inputs", Path(__file__).resolve().parents[2] / "scripts" / "fuzz_inputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_mutated_real_files_give_an_image_or_one_clean_line(campaign, isbi_root, tmp_path, capfd):
    """ISBI 2015 JPEGs (and quarter-size re-encodes) and pydicom's test DICOMs, truncated,
    bit-flipped or with header fields rewritten: each loads (keeping the pixel-type contract)
    or fails with the one-line UnreadableImageError, within a time limit, and the command line
    prints exactly one line for each failure, with no library chatter."""
    import random
    import threading

    from cephview.cli import main

    rng = random.Random(12)
    seeds = campaign.seed_files(isbi_count=1)
    assert any(n.startswith("isbi_") for n in seeds) and sum(n.startswith("dicom_") for n in seeds) > 20
    names = sorted(seeds)
    outcomes: dict[str, int] = {}
    for i in range(REAL_INPUTS):
        name = rng.choice(names)
        kind, data = campaign.mutate(name, seeds[name], rng)
        path = tmp_path / f"{i:04d}_{kind}_{name}"
        path.write_bytes(data)
        result: list = []
        worker = threading.Thread(target=lambda: result.append(campaign.classify(path)), daemon=True)  # noqa: B023 - joined below
        worker.start()
        worker.join(60)
        assert not worker.is_alive(), f"{path.name}: loading hangs"
        outcome, detail = result[0]
        assert outcome != "crash", f"{path.name}: {detail}"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if outcome == "clean_error" and i % 5 == 0:  # the command line's side of it, on a share of them
            capfd.readouterr()
            assert main(["info", str(path)]) == 2
            out, err = capfd.readouterr()
            assert out == "" and err.count("\n") == 1 and err.startswith("cephview: error: "), err
        path.unlink()
    assert outcomes.get("clean_error", 0) > 0 and outcomes.get("loaded", 0) > 0, outcomes
