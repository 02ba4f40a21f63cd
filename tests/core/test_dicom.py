"""DICOM loading: real CR/MR/CT files from pydicom and pydicom-data, and files written here."""

from __future__ import annotations

import importlib.util
import logging
import socket
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder
from pydicom.uid import (
    UID,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from cephview.core.calibration import CalibrationSource
from cephview.core.errors import UnreadableImageError
from cephview.core.radiograph import load_radiograph, percentile_window, to_uint8

# --- real files ----------------------------------------------------------------------------------


def pydicom_file(name: str) -> Path:
    """A file shipped inside pydicom; exact names only (patterns may try to download)."""
    from pydicom.data import get_testdata_file

    found = get_testdata_file(name, download=False)
    if found is None:
        pytest.skip(f"pydicom test file {name} not installed")
    return Path(found)


def data_store_file(name: str) -> Path:
    """A full-size image from the pydicom-data package, found on disk without the network."""
    spec = importlib.util.find_spec("data_store")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pydicom-data is not installed (pip install pydicom-data)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / name
    if not path.is_file():
        pytest.skip(f"{name} is not in the installed pydicom-data")
    return path


def decoder_available(uid: UID) -> bool:
    try:
        return get_decoder(uid).is_available
    except NotImplementedError:
        return False


def test_rg1_monochrome1_is_inverted_so_bone_is_bright(caplog):
    path = data_store_file("RG1_UNCR.dcm")
    with caplog.at_level(logging.WARNING, logger="cephview.core.dicom"):
        r = load_radiograph(path)
    raw = pydicom.dcmread(path).pixel_array
    assert (r.width, r.height, r.photometric, r.bits) == (1841, 1955, "MONOCHROME1", 15)
    np.testing.assert_array_equal(r.pixels, raw)
    # MONOCHROME1: the minimum is white, so bone (high attenuation, low value) must come out bright.
    lo, hi = percentile_window(raw)
    np.testing.assert_array_equal(r.model_pixels, to_uint8(raw, lo, hi, invert=True))
    sample = (slice(None, None, 7), slice(None, None, 7))
    assert np.corrcoef(raw[sample].ravel(), r.model_pixels[sample].ravel())[0, 1] < -0.95
    assert np.corrcoef(raw[sample].ravel(), r.display[sample].ravel())[0, 1] < -0.9
    assert r.window == (15000.0, 30000.0)
    # Its Pixel Spacing is "0.000": ignored, with a warning, not a crash or a 0 mm pixel.
    assert r.calibration.source is CalibrationSource.NONE
    assert any("0.000" in rec.getMessage() for rec in caplog.records)


@pytest.mark.slow
@pytest.mark.skipif(not decoder_available(JPEG2000Lossless), reason="no JPEG 2000 decoder installed")
def test_rg1_jpeg2000_lossless_decodes_equal_to_uncompressed():
    uncompressed = load_radiograph(data_store_file("RG1_UNCR.dcm"))
    j2k = load_radiograph(data_store_file("RG1_J2KR.dcm"))
    np.testing.assert_array_equal(j2k.pixels, uncompressed.pixels)
    np.testing.assert_array_equal(j2k.model_pixels, uncompressed.model_pixels)
    assert "JPEG 2000" in j2k.metadata["transfer_syntax"]


@pytest.mark.skipif(not decoder_available(JPEG2000Lossless), reason="no JPEG 2000 decoder installed")
def test_rg1_jpeg2000_lossy_is_close_to_uncompressed():
    reference = load_radiograph(data_store_file("RG1_UNCI.dcm")).model_pixels.astype(np.int16)
    lossy = load_radiograph(data_store_file("RG1_J2KI.dcm")).model_pixels.astype(np.int16)
    assert np.abs(lossy - reference).mean() < 3


def test_rg3_monochrome1_cr():
    r = load_radiograph(data_store_file("RG3_UNCR.dcm"))
    assert r.photometric == "MONOCHROME1" and r.metadata["modality"] == "CR"
    assert r.model_pixels.dtype == np.uint8 and r.model_pixels.shape == r.pixels.shape


def test_mr_small_window_and_pixel_spacing():
    r = load_radiograph(pydicom_file("MR_small.dcm"))
    assert r.window == (600.0, 1600.0)
    assert r.calibration.source is CalibrationSource.PIXEL_SPACING
    assert r.calibration.row_mm == pytest.approx(0.3125)
    assert r.metadata["voi"] == "window LINEAR"


def test_ct_rescale_intercept_applied():
    path = pydicom_file("CT_small.dcm")
    r = load_radiograph(path)
    raw = pydicom.dcmread(path).pixel_array
    assert r.pixels.dtype == np.float32
    np.testing.assert_array_equal(r.pixels, raw.astype(np.float32) - 1024)


def test_rle_decodes_natively():
    plain = load_radiograph(pydicom_file("MR_small.dcm"))
    rle = load_radiograph(pydicom_file("MR_small_RLE.dcm"))
    np.testing.assert_array_equal(rle.pixels, plain.pixels)


def test_big_endian_gives_native_uint16():
    r = load_radiograph(pydicom_file("emri_small_big_endian.dcm"))
    assert r.pixels.dtype == np.uint16 and r.pixels.dtype.isnative


def test_multi_frame_opens_first_frame_and_says_so():
    path = pydicom_file("emri_small.dcm")
    r = load_radiograph(path)
    np.testing.assert_array_equal(r.pixels, pydicom.dcmread(path).pixel_array[0])
    assert r.metadata["frames"] == 10 and "frame 1 of 10" in r.metadata["frame_shown"]


@pytest.mark.parametrize("name", ["SC_rgb.dcm", "SC_ybr_full_uncompressed.dcm", "OBXXXX1A.dcm", "US1_UNCR.dcm"])
def test_colour_files_become_grey(name):
    path = pydicom_file(name) if name != "US1_UNCR.dcm" else data_store_file(name)
    r = load_radiograph(path)
    assert r.pixels.ndim == 2 and r.photometric == "MONOCHROME2"
    assert r.metadata["source_photometric"] != "MONOCHROME2"
    assert r.display.shape == r.model_pixels.shape == r.pixels.shape


def test_voi_lut_sequence_is_used():
    r = load_radiograph(pydicom_file("vlut_04.dcm"))
    assert r.metadata["voi"] == "VOI LUT Sequence" and r.window is None
    assert r.display.dtype == np.uint8


def test_modality_lut_sequence_is_used():
    r = load_radiograph(pydicom_file("mlut_18.dcm"))
    assert r.metadata["modality_lut"] == "Modality LUT Sequence"


def test_truncated_pydicom_file():
    with pytest.raises(UnreadableImageError, match="truncated"):
        load_radiograph(pydicom_file("MR_truncated.dcm"))


@pytest.mark.skipif(decoder_available(JPEGLSLossless), reason="a JPEG-LS decoder is installed")
def test_jpeg_ls_without_plugin_names_the_plugin():
    path = pydicom_file("emri_small_jpeg_ls_lossless.dcm")
    with pytest.raises(UnreadableImageError) as err:
        load_radiograph(path)
    message = str(err.value)
    assert "JPEG-LS" in message and "pyjpegls" in message and "python-gdcm" in message
    assert "\n" not in message and str(path) in message


def test_never_touches_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the DICOM loader tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    load_radiograph(pydicom_file("MR_small.dcm"))
    load_radiograph(pydicom_file("MR_small_jp2klossless.dcm"))


# --- files written here --------------------------------------------------------------------------


def ramp(rows: int = 64, cols: int = 80, top: int = 4095) -> np.ndarray:
    return np.linspace(0, top, rows * cols).reshape(rows, cols).astype(np.uint16)


def write_dicom(
    path: Path,
    pixels: np.ndarray | None = None,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    sop_class: UID = DigitalXRayImageStorageForPresentation,
    preamble: bool = True,
    **tags,
) -> Path:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.Manufacturer = "ACME Ceph"
    if pixels is not None:
        bits = bits_stored or (8 if pixels.dtype == np.uint8 else 12)
        ds.set_pixel_data(pixels, photometric, bits)
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    if not preamble:  # a bare implicit-VR data set, as older modalities write
        if hasattr(ds, "file_meta"):
            del ds.file_meta
        ds.save_as(path, implicit_vr=True, little_endian=True)
        return path
    if not hasattr(ds, "file_meta"):
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


def write_compressed(path: Path, syntax: UID) -> Path:
    """A header that promises compressed pixel data; the fragment is never decoded."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = generate_uid()
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 64, 64, 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xc3" + bytes(60)])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


S = CalibrationSource
PS, IPS, EMF = "PixelSpacing", "ImagerPixelSpacing", "EstimatedRadiographicMagnificationFactor"
SPACING_CASES = [
    ({PS: [0.1, 0.12]}, S.PIXEL_SPACING, (0.1, 0.12)),
    ({PS: [0.1, 0.1], "PixelSpacingCalibrationType": "GEOMETRY"}, S.CALIBRATED, (0.1, 0.1)),
    ({PS: [0.1, 0.1], "PixelSpacingCalibrationType": "FIDUCIAL"}, S.CALIBRATED, (0.1, 0.1)),
    ({IPS: [0.14, 0.15]}, S.DETECTOR, (0.14, 0.15)),
    ({IPS: [0.11, 0.11], EMF: 1.1}, S.MAGNIFICATION_CORRECTED, (0.1, 0.1)),
    ({PS: [0.14, 0.14], IPS: [0.14, 0.14]}, S.DETECTOR, (0.14, 0.14)),  # equal: still the detector plane
    ({PS: [0.127, 0.127], IPS: [0.14, 0.14]}, S.PIXEL_SPACING, (0.127, 0.127)),
    ({PS: ["0.000", "0.000"]}, S.NONE, None),
    ({PS: ["0.000", "0.000"], IPS: [0.1, 0.1]}, S.DETECTOR, (0.1, 0.1)),
    ({IPS: [0.1, 0.1], EMF: 0}, S.DETECTOR, (0.1, 0.1)),
    ({IPS: [-0.1, 0.1]}, S.NONE, None),
    ({}, S.NONE, None),
]


@pytest.mark.parametrize(("tags", "source", "spacing"), SPACING_CASES)
def test_spacing_sources(tmp_path, tags, source, spacing):
    r = load_radiograph(write_dicom(tmp_path / "s.dcm", ramp(), **tags))
    assert r.calibration.source is source
    if spacing is None:
        assert not r.calibration.is_calibrated
    else:
        assert (r.calibration.row_mm, r.calibration.col_mm) == pytest.approx(spacing)


def test_pixel_spacing_is_row_then_column(tmp_path):
    r = load_radiograph(write_dicom(tmp_path / "s.dcm", ramp(), PixelSpacing=[0.1, 0.2]))
    # Ten columns to the right (x) is 10 * column spacing; ten rows down (y) is 10 * row spacing.
    assert r.calibration.distance_mm((0, 0), (10, 0)) == pytest.approx(2.0)
    assert r.calibration.distance_mm((0, 0), (0, 10)) == pytest.approx(1.0)


def test_zero_spacing_logs_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="cephview.core.dicom"):
        load_radiograph(write_dicom(tmp_path / "z.dcm", ramp(), PixelSpacing=["0.000", "0.000"]))
    assert any("Pixel Spacing" in rec.getMessage() for rec in caplog.records)


def test_missing_pixel_data(tmp_path):
    path = write_dicom(tmp_path / "nopix.dcm", None)
    with pytest.raises(UnreadableImageError, match=r"DICOM file has no pixel data \(7FE0,0010\)") as err:
        load_radiograph(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_zero_rows(tmp_path):
    path = write_dicom(tmp_path / "zero.dcm", ramp(), Rows=0)
    with pytest.raises(UnreadableImageError, match="0 rows"):
        load_radiograph(path)


def test_absurd_size_is_refused_before_decoding(tmp_path):
    path = write_dicom(tmp_path / "huge.dcm", ramp(), Rows=40000, Columns=40000)
    with pytest.raises(UnreadableImageError, match="megapixel"):
        load_radiograph(path)


def test_truncated_pixel_data(tmp_path):
    path = write_dicom(tmp_path / "t.dcm", ramp())
    ds = pydicom.dcmread(path)
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    ds.save_as(path)
    with pytest.raises(UnreadableImageError, match="truncated"):
        load_radiograph(path)


@pytest.mark.parametrize(
    ("syntax", "plugin"),
    [(JPEGLSLossless, "pyjpegls"), (JPEGLosslessSV1, "pylibjpeg-libjpeg")],
)
def test_compressed_without_plugin_names_syntax_and_plugin(tmp_path, syntax, plugin):
    if decoder_available(syntax):
        pytest.skip(f"a decoder for {syntax.name} is installed")
    path = write_compressed(tmp_path / "c.dcm", syntax)
    with pytest.raises(UnreadableImageError) as err:
        load_radiograph(path)
    message = str(err.value)
    assert syntax.name in message and plugin in message and "python-gdcm" in message
    assert "\n" not in message


def test_corrupt_jpeg2000_says_what_failed(tmp_path):
    if not decoder_available(JPEG2000Lossless):
        pytest.skip("no JPEG 2000 decoder installed")
    path = write_compressed(tmp_path / "j.dcm", JPEG2000Lossless)
    with pytest.raises(UnreadableImageError, match="JPEG 2000") as err:
        load_radiograph(path)
    assert "\n" not in str(err.value)


def test_linear_window(tmp_path):
    r = load_radiograph(write_dicom(tmp_path / "w.dcm", ramp(), WindowCenter=2048, WindowWidth=1024))
    assert r.window == (2048.0, 1024.0) and r.metadata["voi"] == "window LINEAR"
    px = r.pixels
    assert (r.display[px <= 1535] == 0).all() and (r.display[px >= 2560] == 255).all()
    middle = np.abs(px.astype(int) - 2048) < 3
    assert np.abs(r.display[middle].astype(int) - 128).max() <= 2
    # model_pixels ignores the window: a percentile stretch of all values.
    lo, hi = percentile_window(px)
    np.testing.assert_array_equal(r.model_pixels, to_uint8(px, lo, hi))


def test_linear_exact_and_sigmoid_windows(tmp_path):
    exact = load_radiograph(write_dicom(
        tmp_path / "e.dcm", ramp(), WindowCenter=2000, WindowWidth=1000, VOILUTFunction="LINEAR_EXACT"
    ))
    assert (exact.display[exact.pixels <= 1500] == 0).all() and (exact.display[exact.pixels >= 2500] == 255).all()
    sigmoid = load_radiograph(write_dicom(
        tmp_path / "s.dcm", ramp(), WindowCenter=2000, WindowWidth=1000, VOILUTFunction="SIGMOID"
    ))
    at_centre = np.abs(sigmoid.pixels.astype(int) - 2000) < 2
    assert np.abs(sigmoid.display[at_centre].astype(int) - 128).max() <= 2
    assert sigmoid.display[0, 0] < 10 and sigmoid.display[-1, -1] > 245
    assert np.all(np.diff(sigmoid.display.ravel().astype(int)) >= 0)  # monotonic on a ramp


def test_first_of_several_windows_and_rescaled_units(tmp_path):
    r = load_radiograph(write_dicom(
        tmp_path / "m.dcm", ramp(), WindowCenter=[1048, 9999], WindowWidth=[1024, 5],
        RescaleSlope=1, RescaleIntercept=-1000,
    ))
    assert r.window == (1048.0, 1024.0)
    assert r.pixels.dtype == np.float32 and r.pixels.min() == -1000
    # The window is in rescaled units: stored 2048 is rescaled 1048, the centre.
    middle = np.abs(r.pixels - 1048) < 3
    assert np.abs(r.display[middle].astype(int) - 128).max() <= 2


def test_invalid_window_falls_back_to_percentiles(tmp_path):
    r = load_radiograph(write_dicom(tmp_path / "bad.dcm", ramp(), WindowCenter=100, WindowWidth=0))
    assert r.metadata["voi"].startswith("percentile")
    np.testing.assert_array_equal(r.display, r.model_pixels)


def test_no_window_stretches_percentiles(tmp_path):
    r = load_radiograph(write_dicom(tmp_path / "n.dcm", ramp()))
    lo, hi = percentile_window(r.pixels)
    assert r.window == pytest.approx(((lo + hi) / 2, hi - lo))
    np.testing.assert_array_equal(r.display, r.model_pixels)


def test_presentation_lut_inverse_inverts_display_and_model(tmp_path):
    plain = load_radiograph(write_dicom(tmp_path / "p.dcm", ramp(), WindowCenter=2048, WindowWidth=4096))
    inverse = load_radiograph(write_dicom(
        tmp_path / "i.dcm", ramp(), WindowCenter=2048, WindowWidth=4096, PresentationLUTShape="INVERSE"
    ))
    np.testing.assert_array_equal(inverse.display, 255 - plain.display)
    np.testing.assert_array_equal(inverse.model_pixels, 255 - plain.model_pixels)


def test_monochrome1_with_inverse_is_inverted_once(tmp_path):
    """DX files pair MONOCHROME1 with INVERSE to describe one inversion, not two."""
    mono1 = load_radiograph(write_dicom(tmp_path / "a.dcm", ramp(), photometric="MONOCHROME1"))
    both = load_radiograph(write_dicom(
        tmp_path / "b.dcm", ramp(), photometric="MONOCHROME1", PresentationLUTShape="INVERSE"
    ))
    mono2 = load_radiograph(write_dicom(tmp_path / "c.dcm", ramp()))
    np.testing.assert_array_equal(both.model_pixels, mono1.model_pixels)
    np.testing.assert_array_equal(mono1.model_pixels, 255 - mono2.model_pixels)
    assert mono1.model_pixels[0, 0] == 255  # the lowest stored value is white in MONOCHROME1


def test_16_bit_stays_16_bit(tmp_path):
    r = load_radiograph(write_dicom(tmp_path / "16.dcm", ramp(top=65535), bits_stored=16))
    assert r.pixels.dtype == np.uint16 and r.bits == 16
    assert r.model_pixels.dtype == np.uint8 and r.model_pixels.shape == r.pixels.shape


def test_secondary_capture_8_bit(tmp_path):
    pixels = (ramp() // 16).astype(np.uint8)
    r = load_radiograph(write_dicom(tmp_path / "sc.dcm", pixels, sop_class=SecondaryCaptureImageStorage))
    assert r.bits == 8 and r.pixels.dtype == np.uint8
    assert r.metadata["sop_class"] == "Secondary Capture Image Storage"
    assert not r.calibration.is_calibrated


def test_file_without_preamble(tmp_path):
    path = write_dicom(tmp_path / "raw.dcm", ramp(), preamble=False)
    assert path.read_bytes()[128:132] != b"DICM"
    r = load_radiograph(path)
    assert r.format == "dicom" and r.pixels.shape == (64, 80)


def test_phi_only_in_patient(tmp_path):
    path = write_dicom(
        tmp_path / "phi.dcm", ramp(), PatientName="Doe^Jane", PatientID="MRN-4711",
        PatientBirthDate="19800101", InstitutionName="Smile Clinic",
    )
    r = load_radiograph(path)
    assert r.patient == {"name": "Doe^Jane", "id": "MRN-4711", "birth_date": "19800101"}
    public = repr(r.metadata) + repr(r.info())
    for secret in ("Doe", "Jane", "MRN-4711", "19800101", "Smile Clinic"):
        assert secret not in public
    assert r.metadata["manufacturer"] == "ACME Ceph" and r.metadata["modality"] == "DX"


def test_no_patient_tags_gives_empty_patient(tmp_path):
    assert load_radiograph(write_dicom(tmp_path / "anon.dcm", ramp())).patient == {}


def test_multi_frame_with_missing_frames_opens_the_first(tmp_path):
    frames = np.stack([ramp(), ramp()[::-1]])
    path = write_dicom(tmp_path / "mf.dcm", frames)
    ds = pydicom.dcmread(path)
    ds.PixelData = ds.PixelData[: frames[0].nbytes]  # the second frame is missing
    ds.save_as(path)
    r = load_radiograph(path)
    np.testing.assert_array_equal(r.pixels, frames[0])
    assert r.metadata["frames"] == 2


def test_private_transfer_syntax_says_to_convert(tmp_path):
    path = write_compressed(tmp_path / "p.dcm", UID("1.2.840.10008.1.2.4.100"))  # MPEG2 video
    with pytest.raises(UnreadableImageError, match="convert the file to uncompressed DICOM"):
        load_radiograph(path)


def test_inversion_is_reported_for_the_viewer_toggle(tmp_path):
    assert load_radiograph(write_dicom(tmp_path / "a.dcm", ramp(), photometric="MONOCHROME1")).metadata["inverted"]
    assert not load_radiograph(write_dicom(tmp_path / "b.dcm", ramp())).metadata["inverted"]
