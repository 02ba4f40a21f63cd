"""Dataset readers: real ISBI 2015 (when ../shared has it), fake ISBI/Aariz layouts, folder + CSV."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from cephview.core.calibration import CalibrationSource
from cephview.core.datasets import (
    ISBI_MM_PER_PX,
    open_dataset,
    read_aariz,
    read_image_folder,
    read_isbi2015,
    read_isbi_annotation,
)
from cephview.core.errors import AnnotationFormatError, CephviewError
from cephview.core.radiograph import load_radiograph
from cephview.core.schema import load_schema

ISBI_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "isbi2015"
needs_isbi = pytest.mark.skipif(
    not (ISBI_ROOT / "RawImage").is_dir(),
    reason=f"ISBI 2015 data not found at {ISBI_ROOT} (only the shared workspace has it)",
)
ISBI = load_schema("isbi2015")
AARIZ = load_schema("aariz")


def write_grey(path: Path, width: int = 64, height: int = 80, value: int = 90) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((height, width), value, np.uint8))


# ---------------------------------------------------------------- real ISBI 2015
@needs_isbi
@pytest.mark.parametrize("split", ["train", "test1"])
def test_real_isbi_split_has_150_images_of_19_points_inside_the_image(split):
    ds = read_isbi2015(ISBI_ROOT, split)
    assert len(ds) == 150 and ds.schema.codes == ISBI.codes
    for item in ds.images:
        assert item.points.shape == (19, 2) and not np.isnan(item.points).any()
        with Image.open(item.image_path) as im:  # header only: fast
            width, height = im.size
        assert (item.points >= 0).all()
        assert (item.points[:, 0] <= width - 1).all() and (item.points[:, 1] <= height - 1).all()
        assert item.calibration.row_mm == item.calibration.col_mm == ISBI_MM_PER_PX


@needs_isbi
def test_real_isbi_mean_is_the_average_of_senior_and_junior():
    mean, senior, junior = (read_isbi2015(ISBI_ROOT, "train", r) for r in ("mean", "senior", "junior"))
    for m, s, j in zip(mean.images, senior.images, junior.images):
        assert m.name == s.name == j.name
        np.testing.assert_allclose(m.points, (s.points + j.points) / 2)
        np.testing.assert_array_equal(m.references["senior"], s.points)
    assert [im.name for im in mean.images][:2] == ["001.jpg", "002.jpg"]


# ---------------------------------------------------------------- fake ISBI layout (original BMPs)
def isbi_lines(offset: float) -> list[str]:
    return [f"{10 + i + offset:.0f},{20 + 2 * i + offset:.0f}" for i in range(19)]


def make_isbi(root: Path, raw: str = "RawImage", ann: str = "AnnotationsByMD") -> None:
    extra = ["1", "2", "3", "1", "2", "1", "3", "2"]  # the original files' classification labels
    for split, stems in (("TrainingData", ["001", "002"]), ("Test1Data", ["151"])):
        for stem in stems:
            write_grey(root / raw / split / f"{stem}.bmp")
            for doctor, offset in (("senior", 0), ("junior", 2)):
                path = root / ann / f"400_{doctor}" / f"{stem}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("\r\n".join(isbi_lines(offset) + extra) + "\r\n")
    write_grey(root / raw / "TrainingData" / "003.bmp")  # no annotation: skipped


def test_isbi_reader_accepts_bmp_and_extra_label_lines(tmp_path, caplog):
    make_isbi(tmp_path)
    with caplog.at_level(logging.WARNING):
        ds = read_isbi2015(tmp_path, "train")
    assert [im.name for im in ds.images] == ["001.bmp", "002.bmp"]
    assert "003.bmp" in caplog.text
    item = ds.images[0]
    assert item.points.shape == (19, 2)
    np.testing.assert_allclose(item.points[0], (11, 21))  # mean of senior (10,20) and junior (12,22)
    np.testing.assert_allclose(item.references["senior"][18], (28, 56))
    assert item.calibration.source is CalibrationSource.DATASET
    assert load_radiograph(item.image_path).format == "bmp"
    assert len(read_isbi2015(tmp_path, "test1", "junior")) == 1


def test_isbi_reader_tolerates_folder_case(tmp_path):
    make_isbi(tmp_path, raw="rawimage", ann="annotationsbymd")
    assert len(read_isbi2015(tmp_path, "train", "senior")) == 2


def test_isbi_annotation_errors(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("\n".join(isbi_lines(0)[:18]) + "\n")
    with pytest.raises(AnnotationFormatError, match="18 landmarks"):
        read_isbi_annotation(short)
    bad = tmp_path / "bad.txt"
    bad.write_text("1,2\nnot a point\n")
    with pytest.raises(AnnotationFormatError, match="line 2"):
        read_isbi_annotation(bad)
    with pytest.raises(CephviewError, match="ISBI 2015 dataset folder"):
        read_isbi2015(tmp_path, "train")
    with pytest.raises(CephviewError, match="unknown ISBI split"):
        read_isbi2015(tmp_path, "valid")


# ---------------------------------------------------------------- fake Aariz layout
def aariz_json(points: dict[str, tuple[float, float]]) -> dict:
    return {"ceph_id": "x", "landmarks": [
        {"landmark_id": i, "title": f"title of {s}", "symbol": s, "value": {"x": x, "y": y}}
        for i, (s, (x, y)) in enumerate(points.items())
    ]}


def make_aariz(root: Path, split_folder: str = "train", annotations_at_root: bool = False) -> dict:
    """Three images: full + shuffled, one with gaps and an unknown symbol, one without a senior."""
    base = root / split_folder
    ann = (root if annotations_at_root else base) / "Annotations"
    senior_dir = ann / "Cephalometric Landmarks" / "Senior Orthodontists"
    junior_dir = ann / "Cephalometric Landmarks" / "Junior Orthodontists"
    full = {code: (100.0 + i, 300.0 - i) for i, code in enumerate(AARIZ.codes)}
    shuffled = dict(reversed(list(full.items())))
    gappy = {k: v for k, v in full.items() if k not in ("Pn", "R")}
    gappy = {("N`" if k == "N'" else k): v for k, v in gappy.items()}  # a copy's backtick prime
    gappy["XYZ"] = (1.0, 1.0)
    files = {
        "img_a": (full, {k: (x + 4, y) for k, (x, y) in full.items()}, 3),
        "img_b": (gappy, None, 6),
        "img_c": (None, full, None),
    }
    for stem, (senior, junior, cvm) in files.items():
        write_grey(base / "Cephalograms" / f"{stem}.png", 400, 500)
        for folder, pts in ((senior_dir, senior), (junior_dir, junior)):
            if pts is not None:
                folder.mkdir(parents=True, exist_ok=True)
                data = aariz_json(shuffled if pts is full and stem == "img_a" and folder == senior_dir else pts)
                (folder / f"{stem}.json").write_text(json.dumps(data))
        if cvm is not None:
            (ann / "CVM Stages").mkdir(parents=True, exist_ok=True)
            (ann / "CVM Stages" / f"{stem}.json").write_text(json.dumps({"cvm_stage": {"value": cvm}}))
    return full


def test_aariz_matches_symbols_not_positions(tmp_path, caplog):
    full = make_aariz(tmp_path)
    with caplog.at_level(logging.WARNING):
        ds = read_aariz(tmp_path, "train")  # senior by default
    assert ds.schema.name == "aariz" and [im.image_path.stem for im in ds.images] == ["img_a", "img_b"]
    a, b = ds.images
    expected = np.array([full[c] for c in AARIZ.codes])
    np.testing.assert_allclose(a.points, expected)  # the senior file lists them in reverse order
    assert a.cvm_stage == 3 and b.cvm_stage == 6
    assert np.isnan(b.points[AARIZ.index("Pn")]).all() and np.isnan(b.points[AARIZ.index("R")]).all()
    np.testing.assert_allclose(b.points[AARIZ.index("N'")], full["N'"])  # backtick accepted
    assert "XYZ" in caplog.text and "img_c" in caplog.text
    assert not a.calibration.is_calibrated  # pixel size differs per device: never assumed


def test_aariz_reference_choice_and_mean(tmp_path):
    full = make_aariz(tmp_path)
    junior = read_aariz(tmp_path, "train", "junior")
    assert [im.image_path.stem for im in junior.images] == ["img_a", "img_c"]
    mean = read_aariz(tmp_path, "train", "mean")
    assert len(mean) == 3
    a = mean.images[0]
    np.testing.assert_allclose(a.points[:, 0], np.array([full[c][0] for c in AARIZ.codes]) + 2)
    assert set(a.references) == {"senior", "junior"}
    # img_b has only a senior file with two gaps: its mean is the senior, gaps stay NaN
    assert np.isnan(mean.images[1].points).any(axis=1).sum() == 2


def test_aariz_pixel_size_table_and_layout_variants(tmp_path):
    make_aariz(tmp_path, split_folder="TRAIN", annotations_at_root=True)
    (tmp_path / "cephalogram_machine_mappings.csv").write_text(
        "cephalogram_id,machine,pixel_size,image_format,mode\nimg_a,Device A,0.127,png,TRAIN\n"
        "img_b,Device B,n/a,png,TRAIN\n"
    )
    ds = read_aariz(tmp_path, "train")
    a, b = ds.images
    assert a.calibration.col_mm == pytest.approx(0.127) and a.calibration.source is CalibrationSource.DATASET
    assert not b.calibration.is_calibrated
    table = tmp_path / "sizes.csv"
    table.write_text("image,mm_per_px\nimg_b.png,0.1\n")
    ds = read_aariz(tmp_path, "train", pixel_sizes=table)
    assert not ds.images[0].calibration.is_calibrated and ds.images[1].calibration.col_mm == 0.1


def test_aariz_errors(tmp_path):
    with pytest.raises(CephviewError, match="no valid folder"):
        read_aariz(tmp_path, "valid")
    with pytest.raises(CephviewError, match="unknown Aariz split"):
        read_aariz(tmp_path, "test1")
    make_aariz(tmp_path)
    senior = tmp_path / "train" / "Annotations" / "Cephalometric Landmarks" / "Senior Orthodontists"
    (senior / "img_a.json").write_text("{not json")
    with pytest.raises(AnnotationFormatError, match="img_a.json"):
        read_aariz(tmp_path, "train")
    (senior / "img_a.json").write_text(json.dumps({"points": []}))
    with pytest.raises(AnnotationFormatError, match="'landmarks' list"):
        read_aariz(tmp_path, "train")


def test_aariz_bad_cvm_stage_is_ignored(tmp_path, caplog):
    make_aariz(tmp_path)
    (tmp_path / "train" / "Annotations" / "CVM Stages" / "img_a.json").write_text('{"cvm_stage": {"value": 9}}')
    with caplog.at_level(logging.WARNING):
        ds = read_aariz(tmp_path, "train")
    assert ds.images[0].cvm_stage is None and "outside 1-6" in caplog.text


# ---------------------------------------------------------------- image folder + cephview CSV
def make_folder(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    for name in ("a.png", "b.jpg", "extra.png"):
        write_grey(images / name)
    return images


def test_image_folder_with_long_csv(tmp_path, caplog):
    images = make_folder(tmp_path)
    csv_path = tmp_path / "points.csv"
    csv_path.write_text(
        "image,landmark,x_px,y_px,x_mm,y_mm,confidence,status\n"
        "a.png,S,10.5,20.25,,,,manual\n"
        "a.png,N,30,40,,,,manual\n"
        "a.png,Ls,31,41,,,,manual\n"  # Aariz spelling of UL
        "a.png,Foo,1,1,,,,manual\n"
        "b,S,5,6,,,,manual\n"  # a stem names b.jpg
    )
    with caplog.at_level(logging.INFO):
        ds = read_image_folder(images, csv_path)
    assert [im.name for im in ds.images] == ["a.png", "b.jpg"]
    a = ds.images[0]
    np.testing.assert_allclose(a.points[ISBI.index("S")], (10.5, 20.25))
    np.testing.assert_allclose(a.points[ISBI.index("UL")], (31, 41))
    assert np.isnan(a.points[ISBI.index("Or")]).all() and not a.calibration.is_calibrated
    assert "Foo" in caplog.text and "extra.png" in caplog.text


def test_image_folder_with_wide_csv_and_schema(tmp_path):
    images = make_folder(tmp_path)
    csv_path = tmp_path / "wide.csv"
    csv_path.write_text("image,S_x,S_y,Pn_x,Pn_y\na.png,1,2,3,4\nb.jpg,5,6,,\n")
    ds = read_image_folder(images, csv_path, schema="aariz")
    assert ds.schema.name == "aariz" and len(ds) == 2
    np.testing.assert_allclose(ds.images[0].points[AARIZ.index("Pn")], (3, 4))


def test_image_folder_missing_images_are_an_error_naming_them(tmp_path):
    images = make_folder(tmp_path)
    csv_path = tmp_path / "points.csv"
    rows = ["image,landmark,x_px,y_px", "a.png,S,1,2"] + [f"gone{i}.png,S,1,2" for i in range(7)]
    csv_path.write_text("\n".join(rows) + "\n")
    with pytest.raises(CephviewError, match=r"7 image\(s\) not found.*gone0.png.*and 2 more"):
        read_image_folder(images, csv_path)


def test_image_folder_bad_csv_and_paths(tmp_path):
    images = make_folder(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("image,landmark,x_px,y_px\na.png,S,one,2\n")
    with pytest.raises(AnnotationFormatError):
        read_image_folder(images, bad)
    with pytest.raises(CephviewError, match="image folder not found"):
        read_image_folder(tmp_path / "nope", bad)
    with pytest.raises(CephviewError, match="annotation CSV not found"):
        read_image_folder(images, tmp_path / "nope.csv")


def test_open_dataset_dispatches(tmp_path):
    make_isbi(tmp_path / "isbi")
    make_aariz(tmp_path / "aariz")
    images = make_folder(tmp_path)
    csv_path = tmp_path / "p.csv"
    csv_path.write_text("image,landmark,x_px,y_px\na.png,S,1,2\n")
    assert len(open_dataset("isbi2015", tmp_path / "isbi")) == 2
    assert open_dataset("isbi2015", tmp_path / "isbi", split="test1").description.startswith("ISBI 2015 test1")
    assert len(open_dataset("aariz", tmp_path / "aariz", reference="mean")) == 3
    assert len(open_dataset(images=images, annotations=csv_path)) == 1
    with pytest.raises(CephviewError, match="--root"):
        open_dataset("isbi2015")
    with pytest.raises(CephviewError, match="--annotations"):
        open_dataset("folder", images=images)
    with pytest.raises(CephviewError, match="unknown dataset kind"):
        open_dataset("cityscapes", tmp_path)
