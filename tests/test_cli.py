"""The command line contracts: exit codes, one-line errors, CSV columns, batch behaviour."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from cephview.cli import main


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    from cephview.core.synthetic import write_synthetic_dataset

    folder = tmp_path_factory.mktemp("images")
    write_synthetic_dataset(folder, 3, seed=5, width=240, height=300)
    return folder


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_info_prints_the_contract_fields(image_folder, capsys):
    code, out, _ = run(["info", str(image_folder / "synthetic_0000.png")], capsys)
    assert code == 0
    info = json.loads(out)
    assert {"width", "height", "mm_per_px", "calibration", "photometric", "bits"} <= set(info)
    assert (info["width"], info["height"], info["bits"]) == (240, 300, 8)
    assert info["mm_per_px"] is None and info["calibration"] == "none"


def test_info_on_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)
    code, out, err = run(["info", str(bad)], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"cephview: error: {bad}: ")


def test_predict_writes_long_csv_and_reports_failures(image_folder, tiny_model_path, tmp_path, capsys):
    folder = tmp_path / "batch"
    folder.mkdir()
    for p in sorted(image_folder.glob("*.png"))[:2]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    out = tmp_path / "pred.csv"
    code, _, err = run(["predict", str(folder), "--out", str(out), "--model", str(tiny_model_path)], capsys)
    assert code == 2
    assert "corrupt.png" in err.splitlines()[-1] and "1 of 3 inputs failed" in err
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["image", "landmark", "x_px", "y_px", "confidence", "warning"]
    assert {r["warning"] for r in rows} == {""}  # intact files
    assert len(rows) == 2 * 19 and {r["image"] for r in rows} == {"synthetic_0000.png", "synthetic_0001.png"}
    assert all(0 <= float(r["x_px"]) < 240 and 0 <= float(r["y_px"]) < 300 for r in rows)


@pytest.mark.slow
def test_predict_says_which_images_are_damaged(isbi_root, damaged_jpeg, tiny_model_path, tmp_path, capsys):
    """A damaged JPEG that still loads is predicted, and each of its rows says it is damaged."""
    folder = tmp_path / "films"
    folder.mkdir()
    (folder / "intact.jpg").write_bytes((isbi_root / "RawImage" / "Test1Data" / "151.jpg").read_bytes())
    (folder / "damaged.jpg").write_bytes(damaged_jpeg)
    out = tmp_path / "pred.csv"
    code, _, err = run(["predict", str(folder), "--out", str(out), "--model", str(tiny_model_path)], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    warnings = {}
    for r in rows:
        warnings.setdefault(r["image"], set()).add(r["warning"])
    assert set(warnings) == {"intact.jpg", "damaged.jpg"} and len(rows) == 2 * 19
    assert warnings["intact.jpg"] == {""}
    (damage,) = warnings["damaged.jpg"]
    assert damage.startswith("JPEG data is damaged (") and "check the landmarks" in damage


def test_predict_with_a_corrupt_model_is_a_clear_error(image_folder, tmp_path, capsys):
    model = tmp_path / "bad.pt"
    model.write_bytes(b"not a model")
    code, _, err = run(["predict", str(image_folder), "--out", str(tmp_path / "x.csv"), "--model", str(model)], capsys)
    assert code == 2 and err.count("\n") == 1 and "bad.pt" in err
    assert not (tmp_path / "x.csv").exists()


def test_evaluate_on_a_folder_with_csv(image_folder, tiny_model_path, tmp_path, capsys):
    js, plot = tmp_path / "e.json", tmp_path / "e.png"
    code, out, _ = run([
        "evaluate", "--images", str(image_folder), "--annotations", str(image_folder / "landmarks.csv"),
        "--model", str(tiny_model_path), "--json", str(js), "--plot", str(plot),
    ], capsys)
    assert code == 0
    assert "SDR2" in out and "per-landmark" in out
    data = json.loads(js.read_text())
    assert data["evaluations"][0]["reference"] == "annotations" and data["evaluations"][0]["count"] == 3
    assert cv2.imread(str(plot)) is not None
    # confidence: failure detection and calibration, with a reliability diagram beside the box plot
    assert "AUC>4mm" in out and "ECE" in out and "within 2mm" in out
    assert data["confidence"]["count"] == 3 * 19 and 0 <= data["confidence"]["ece"] <= 1
    assert cv2.imread(str(tmp_path / "e-reliability.png")) is not None


@pytest.mark.slow
def test_train_then_fine_tune_from_the_command_line(image_folder, tmp_path, capsys):
    out = tmp_path / "m.pt"
    args = ["train", "--images", str(image_folder), "--annotations", str(image_folder / "landmarks.csv"),
            "--out", str(out), "--epochs", "1", "--encoder", "resnet18", "--val-fraction", "0.34"]
    # a tiny network keeps this fast
    args += ["--input-size", "96x128", "--patch-size", "48"]
    code, stdout, _ = run(args, capsys)
    assert code == 0 and out.is_file()
    first = json.loads(stdout)["version"]
    tuned = tmp_path / "t.pt"
    tune_args = [str(tuned) if a == str(out) else a for a in args] + ["--init", str(out)]
    code, stdout, _ = run(tune_args, capsys)
    assert code == 0
    from cephview.model.modelfile import load_model

    assert load_model(tuned).meta["init"] == first


def test_console_script_runs_as_a_process(image_folder):
    """The installed entry point: no traceback, exit code 2, one line."""
    proc = subprocess.run(
        [sys.executable, "-m", "cephview.cli", "info", str(image_folder / "missing.png")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"cephview: error: {image_folder / 'missing.png'}: no such file"]


def test_info_on_a_folder_without_images_is_an_error(tmp_path, capsys):
    code, out, err = run(["info", str(tmp_path)], capsys)
    assert code == 2 and out == ""
    assert err == f"cephview: error: {tmp_path}: no images found\n"


@pytest.mark.parametrize("command", ["predict", "measure"])
def test_output_into_a_missing_folder_is_one_line_before_any_work(image_folder, tmp_path, capsys, command):
    out = tmp_path / "nowhere" / "out.csv"
    extra = ["--model", str(tmp_path / "never-loaded.pt")] if command == "predict" else [
        "--annotations", str(image_folder / "landmarks.csv")]
    code, _, err = run([command, str(image_folder / "synthetic_0000.png"), "--out", str(out), *extra], capsys)
    assert code == 2
    assert err == f"cephview: error: {out}: the folder {out.parent} does not exist\n"


def test_unwritable_output_is_one_line_not_a_traceback(image_folder, tmp_path, capsys):
    out = tmp_path / "out.csv"
    out.mkdir()  # replacing a folder with a file fails with an OSError
    code, _, err = run(["measure", str(image_folder / "synthetic_0000.png"), "--out", str(out),
                        "--annotations", str(image_folder / "landmarks.csv")], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("cephview: error: ")


def test_predict_with_patch_views_and_a_bad_count(image_folder, tiny_model_path, tmp_path, capsys):
    image = str(image_folder / "synthetic_0000.png")
    one, five = tmp_path / "one.csv", tmp_path / "five.csv"
    for out, views in ((one, "1"), (five, "5")):
        code, _, _ = run(["predict", image, "--out", str(out), "--model", str(tiny_model_path), "--patch-views", views], capsys)
        assert code == 0
    rows_one, rows_five = list(csv.DictReader(one.open())), list(csv.DictReader(five.open()))
    assert len(rows_one) == len(rows_five) == 19
    # Averaging shifted patches moves at least one of an untrained model's answers.
    assert any(a["x_px"] != b["x_px"] or a["y_px"] != b["y_px"] for a, b in zip(rows_one, rows_five))
    with pytest.raises(SystemExit):
        main(["predict", image, "--out", str(tmp_path / "x.csv"), "--patch-views", "9"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--val-fraction", "1.0"], "--val-fraction must be at least 0 and below 1"),
    (["--input-size", "0x0"], "--input-size sides must be positive multiples of 32"),
    (["--input-size", "32x-32"], "--input-size sides must be positive multiples of 32"),
    (["--patch-size", "7"], "--patch-size must be an even number of at least 16"),
    (["--patch-size", "0"], "--patch-size must be an even number of at least 16"),
    (["--epochs", "-1"], "--epochs must not be negative"),
    (["--lr", "0"], "--lr must be a positive number"),
])
def test_train_refuses_numbers_it_cannot_train_with(image_folder, tmp_path, capsys, extra, message):
    out = tmp_path / "m.pt"
    code, _, err = run(["train", "--images", str(image_folder), "--annotations", str(image_folder / "landmarks.csv"),
                        "--out", str(out)] + extra, capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_train_project_refuses_the_same_numbers(tmp_path, capsys):
    code, _, err = run(["train", "--project", str(tmp_path), "--lr", "-1"], capsys)
    assert code == 2 and "--lr must be a positive number" in err
    code, _, err = run(["train", "--project", str(tmp_path), "--epochs", "-5"], capsys)
    assert code == 2 and "--epochs must not be negative" in err
