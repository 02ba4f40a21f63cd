"""The machines of a multi-machine run compare their jobs: one started with other options ends
the run with one line naming them, instead of silently training the job written last."""

from __future__ import annotations

import json
import socket

import pytest

from cephview.model.config import TrainConfig
from cephview.model.distributed import NODE_JOB_ENV, run_job
from cephview.model.job_compare import DifferentJobsError, check_same_job, describe, job_differences


def _job(**config) -> dict:
    """A job as ``cephview train --nodes 2`` writes it (cephview.cli_experiments.launch_distributed)."""
    return {"dataset": {"kind": "folder", "root": None, "images": "/data/isbi", "annotations": "/data/isbi/l.csv",
                        "split": "train", "reference": "senior", "schema": "isbi2015"},
            "config": {**TrainConfig().to_dict(), **config}, "out": "/shared/m.pt", "init": None, "resume": False,
            "device": None, "experiment": {"name": "defaults", "description": "the defaults", "file": None,
                                           "command": "cephview train --out /shared/m.pt --devices 1 --nodes 2"}}


def test_equal_jobs_and_per_node_fields_pass():
    a, b = _job(num_threads=8), _job(num_threads=2)  # each machine's own thread count
    b["experiment"]["command"] = "cephview train --out ../m.pt --devices 1 --nodes 2"  # typed in another folder
    assert job_differences({"machine 0": a, "machine 1": b}) == {}
    check_same_job("/shared/m.pt.job.json", b, {"machine 0": a, "machine 1": b})


def test_differing_options_are_named_by_how_they_were_given():
    a, b = _job(), _job(epochs_global=5)
    b["config"]["global_stage"]["sigma"] = 4.0
    b["dataset"]["split"] = "test"
    b["resume"] = True
    diffs = job_differences({"machine 0": a, "machine 1": b})
    assert set(diffs) == {"config.epochs_global", "config.global_stage.sigma", "dataset.split", "resume"}
    assert diffs["config.epochs_global"] == {"machine 0": 60, "machine 1": 5}
    line = describe(diffs)
    assert "epochs_global: 60 on machine 0, 5 on machine 1" in line
    assert "global_stage.sigma: 2.0 on machine 0, 4.0 on machine 1" in line
    assert '--split: "train" on machine 0, "test" on machine 1' in line
    assert "--resume: false on machine 0, true on machine 1" in line and "\n" not in line


def test_many_differences_stay_one_short_line():
    a = _job()
    b = _job(epochs_global=1, epochs_refine=1, lr=0.5, seed=9, rotate_deg=1.0, device_look=0.5)
    b["dataset"]["reference"] = "/x" * 200  # a long value is cut
    with pytest.raises(DifferentJobsError) as caught:
        check_same_job("/shared/m.pt.job.json", a, {"machine 0 (a)": a, "machine 1 (b)": b})
    message = str(caught.value)
    assert message.startswith("/shared/m.pt.job.json: the machines of this run were started with different options: ")
    assert message.endswith("and 3 more; start the same command on every machine")
    assert "\n" not in message and len(message) < 500


def test_a_job_file_of_another_run_is_named():
    mine, other = _job(), _job(batch_size_global=8)
    with pytest.raises(DifferentJobsError, match=r"^/s/m\.pt\.job\.json: written by another run with other options "
                                                 r"\(batch_size_global: 4 on this run, 8 on the file\); give each "
                                                 r"run its own --out$"):
        check_same_job("/s/m.pt.job.json", other, {"machine 0": mine, "machine 1": mine})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def one_worker(monkeypatch):
    """The environment torchrun gives its only worker (one gloo process on this machine)."""
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "GROUP_RANK": "0",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}.items():
        monkeypatch.setenv(key, value)


def test_a_worker_whose_machine_asked_for_another_job_stops_with_one_line(tmp_path, one_worker, monkeypatch, capsys):
    path = tmp_path / "m.pt.job.json"
    written = _job()
    written["dataset"]["images"] = str(tmp_path / "no-images")  # never read: the jobs are compared first
    path.write_text(json.dumps(written))
    monkeypatch.setenv(NODE_JOB_ENV, json.dumps({**written, "config": {**written["config"], "epochs_global": 3}}))
    assert run_job(path) == 2
    err = capsys.readouterr().err
    assert err == (f"cephview: error: {path}: written by another run with other options (epochs_global: 3 on "
                   "this run, 60 on the file); give each run its own --out\n")


def test_a_job_with_a_bad_setting_stops_before_images_are_read(tmp_path, one_worker, capsys):
    path = tmp_path / "m.pt.job.json"
    job = _job(batch_size_global=0)
    job["dataset"]["images"] = str(tmp_path / "no-images")
    path.write_text(json.dumps(job))
    assert run_job(path) == 2
    assert capsys.readouterr().err == f"cephview: error: {path}: batch_size_global: must be at least 1, got 0\n"


def test_machines_may_find_their_data_and_model_at_other_paths(tmp_path, monkeypatch):
    """Another mount point or a local copy of the dataset, and no --device where another machine
    names its default, are the same job; the data and the --init file are compared by content."""
    from cephview.model.distributed import comparable

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        (tmp_path / folder / "init.pt").write_bytes(b"the same model")
    a, b = _job(), _job()
    b["dataset"].update(images="/mnt/share/isbi", annotations="/mnt/share/isbi/l.csv", root="/mnt/share")
    a["init"], b["init"] = str(tmp_path / "a" / "init.pt"), str(tmp_path / "b" / "init.pt")
    a["device"], b["device"] = "cpu", None
    jobs = {"machine 0": comparable(a), "machine 1": comparable(b)}
    assert job_differences(jobs) == {}
    check_same_job("/shared/m.pt.job.json", comparable(a), jobs)

    (tmp_path / "b" / "init.pt").write_bytes(b"another model")
    b["device"] = "cuda"
    diffs = job_differences({"machine 0": comparable(a), "machine 1": comparable(b)})
    assert set(diffs) == {"init", "device"}
    assert diffs["device"] == {"machine 0": "cpu", "machine 1": "cuda"}
    # one machine's first GPU is the other's: the device's kind is compared; a typo is a value too
    assert comparable({**a, "device": "cuda:1"})["device"] == comparable({**a, "device": "cuda"})["device"]
    assert comparable({**a, "device": "gpu"})["device"] == "gpu"


def test_machines_with_different_data_are_named(tmp_path):
    from cephview.core.datasets import open_dataset
    from cephview.core.synthetic import write_synthetic_dataset
    from cephview.model.job_compare import check_same_data, dataset_fingerprint

    write_synthetic_dataset(tmp_path / "a", 3, seed=1)
    write_synthetic_dataset(tmp_path / "b", 3, seed=1)  # a copy elsewhere
    write_synthetic_dataset(tmp_path / "c", 3, seed=2)  # other landmarks
    data = {k: open_dataset(kind="folder", images=tmp_path / k, annotations=tmp_path / k / "landmarks.csv")
            for k in "abc"}
    prints = {k: (len(d), dataset_fingerprint(d)) for k, d in data.items()}
    check_same_data("/s/m.pt.job.json", {"machine 0": prints["a"], "machine 1": prints["b"]})
    with pytest.raises(DifferentJobsError, match=r"^/s/m\.pt\.job\.json: the machines of this run read different "
                                                 r"datasets: 3 images \(\w+\) on machine 0, 3 images \(\w+\) on "
                                                 r"machine 1; give every machine the same images and landmarks$"):
        check_same_data("/s/m.pt.job.json", {"machine 0": prints["a"], "machine 1": prints["c"]})


def test_a_worker_trains_its_own_machines_paths(tmp_path, one_worker, monkeypatch, capsys):
    """The shared file holds the paths of the machine that wrote it last; a worker reads the data
    where its own machine said (here a folder that is not there: the error names it)."""
    path = tmp_path / "m.pt.job.json"
    written = _job()
    written["dataset"].update(images=str(tmp_path / "elsewhere"), annotations=str(tmp_path / "elsewhere" / "l.csv"))
    path.write_text(json.dumps(written))
    own = _job()
    own["dataset"].update(images=str(tmp_path / "here"), annotations=str(tmp_path / "here" / "l.csv"))
    monkeypatch.setenv(NODE_JOB_ENV, json.dumps(own))
    assert run_job(path) == 2
    err = capsys.readouterr().err
    assert err.startswith("cephview: error: ") and str(tmp_path / "here") in err and "elsewhere" not in err, err
    assert "different options" not in err and err.count("\n") == 1
