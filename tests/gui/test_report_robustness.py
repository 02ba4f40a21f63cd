"""Reports: no file name in the PDF unless asked (it often is the patient's name), and a write
that fails half-way (a full disk) leaves neither a PDF nor a temporary file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from test_report_pdf import decompressed_streams, render, synthetic_case

from cephview.core.csvio import write_long_csv

REPO = Path(__file__).resolve().parents[2]


def test_an_identifying_file_name_is_left_out_of_the_report(qapp, tmp_path):
    image, ann = synthetic_case()
    ann.image = "cases/Smith_Johnathan_ceph.dcm"
    _, hidden = render(tmp_path, image, ann, name="hidden.pdf")
    raw = hidden.path.read_bytes()
    assert "Smith" not in "\n".join(t.text for t in hidden.texts)
    assert b"Smith" not in raw and b"Smith" not in decompressed_streams(raw)
    assert b"S\0m\0i\0t\0h" not in raw and "Smith".encode("utf-16-be") not in raw
    _, shown = render(tmp_path, image, ann, include_patient=True, name="shown.pdf")
    assert any("Smith_Johnathan_ceph.dcm" in t.text for t in shown.texts)


# The report command in a process whose files may not grow past 40 KB: writes beyond fail
# (EFBIG) as on a full disk, and Qt's PDF writer does not say so.
LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, resource.RLIM_INFINITY))
from cephview.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX resource limits")
def test_a_report_that_cannot_be_written_whole_leaves_nothing_behind(tmp_path):
    image, ann = synthetic_case()
    cv2.imwrite(str(tmp_path / "synthetic.png"), image)
    write_long_csv(tmp_path / "landmarks.csv", [ann])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1", QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", LIMITED, "report", str(tmp_path / "synthetic.png"), "--annotations",
         str(tmp_path / "landmarks.csv"), "--mm-per-px", "0.1", "--out", str(out_dir / "r.pdf")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("cephview: error:") == 1 and "could not be written" in done.stderr
    assert list(out_dir.iterdir()) == []  # no r.pdf, no .r.pdf.*.tmp
