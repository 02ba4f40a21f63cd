"""Do the machines of a multi-machine run train the same job? Which options differ?

Every machine of ``cephview train --nodes N`` writes its job (dataset, settings, output) to the
same ``OUT.job.json``, and the last one written wins. A machine started with other options than
the others must not silently train that job: its workers compare the jobs of all machines (and
the file) and the run stops with one line naming the options that differ.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from cephview.core.errors import CephviewError

#: Parts of a job that may differ between the machines of one run: the command as typed there
#: (relative paths, its working folder) and the machine's own thread count.
PER_NODE_FIELDS = ("experiment.command", "config.num_threads")
#: Where a machine finds the training data: another mount point or a local copy on each machine
#: is fine; the data they hold is compared instead (:func:`dataset_fingerprint`).
DATA_PATH_FIELDS = ("dataset.root", "dataset.images", "dataset.annotations")
#: Paths as the machine that wrote the shared job file sees them: not this machine's to compare.
FILE_PATH_FIELDS = DATA_PATH_FIELDS + ("init",)

#: How a job's fields are given on the command line (``config.*`` fields are ``--set`` keys).
_OPTIONS = {"dataset.kind": "--dataset", "dataset.root": "--root", "dataset.images": "--images",
            "dataset.annotations": "--annotations", "dataset.split": "--split", "dataset.reference": "--reference",
            "dataset.schema": "--schema", "out": "--out", "init": "--init", "resume": "--resume",
            "device": "--device", "experiment.name": "--config (its name)",
            "experiment.file": "--config (its file name)", "experiment.description": "--config (its description)"}
_SHOWN = 4  # differing options named in the message; the rest are counted
_VALUE_CHARS = 60


class DifferentJobsError(CephviewError):
    """The machines of one run were started with different options."""


def flatten(job: dict, prefix: str = "") -> dict[str, object]:
    """``{"config": {"global_stage": {"sigma": 2}}}`` -> ``{"config.global_stage.sigma": 2}``."""
    out: dict[str, object] = {}
    for key, value in job.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def job_differences(jobs: dict[str, dict], ignored: tuple[str, ...] = PER_NODE_FIELDS + DATA_PATH_FIELDS,
                    ) -> dict[str, dict[str, object]]:
    """The fields whose values differ between ``jobs`` (by who wrote each), ``ignored`` ones left out:
    ``{"config.epochs_global": {"machine 0": 5, "machine 1": 10}}``."""
    flat = {who: flatten(job) for who, job in jobs.items()}
    fields = sorted({name for f in flat.values() for name in f} - set(ignored))
    missing = object()
    return {name: {who: f.get(name, missing) for who, f in flat.items()} for name in fields
            if len({json.dumps(f.get(name, "<missing>"), sort_keys=True) for f in flat.values()}) > 1}


def option_name(field: str) -> str:
    """What a user typed to set ``field``: ``--images``, or ``epochs_global`` (a --set key)."""
    if field.startswith("config."):
        return field.removeprefix("config.")
    return _OPTIONS.get(field, field)


def _shown(value: object) -> str:
    text = "(not given)" if value is None or not isinstance(value, (str, int, float, bool, list)) else json.dumps(value)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 3] + "..."


def describe(differences: dict[str, dict[str, object]]) -> str:
    """``epochs_global: 5 on machine 0, 10 on machine 1; --images: ...``: one line."""
    parts = [f"{option_name(field)}: " + ", ".join(f"{_shown(v)} on {who}" for who, v in values.items())
             for field, values in list(differences.items())[:_SHOWN]]
    if len(differences) > _SHOWN:
        parts.append(f"and {len(differences) - _SHOWN} more")
    return "; ".join(parts)


def check_same_job(job_file: str, file_job: dict, node_jobs: dict[str, dict]) -> None:
    """Raise :class:`DifferentJobsError` unless every machine's job (``node_jobs``, by machine) and
    the job in the shared file agree, per-node fields and data paths apart (the file's paths are
    those of the machine that wrote it last)."""
    differences = job_differences(node_jobs)
    if differences:
        raise DifferentJobsError(f"{job_file}: the machines of this run were started with different options: "
                                 f"{describe(differences)}; start the same command on every machine")
    mine = next(iter(node_jobs.values()))
    differences = job_differences({"this run": mine, "the file": file_job}, PER_NODE_FIELDS + FILE_PATH_FIELDS)
    if differences:
        raise DifferentJobsError(f"{job_file}: written by another run with other options ({describe(differences)}); "
                                 "give each run its own --out")


def dataset_fingerprint(dataset) -> str:
    """What a machine's dataset holds, wherever it lies: its schema, image names and landmarks
    (a ``LandmarkDataset``), as a short digest the machines can compare."""
    digest = hashlib.sha256(str(dataset.schema.name).encode())
    for item in dataset.images:
        digest.update(item.name.encode() + b"\0")
        digest.update(np.ascontiguousarray(item.points, dtype=np.float64).tobytes())
    return digest.hexdigest()[:12]


def check_same_data(job_file: str, fingerprints: dict[str, tuple[int, str]]) -> None:
    """Raise :class:`DifferentJobsError` unless every machine's dataset (``(images, fingerprint)``
    by machine) holds the same images and landmarks."""
    if len({fp for _, fp in fingerprints.values()}) > 1:
        said = ", ".join(f"{n} images ({fp}) on {who}" for who, (n, fp) in fingerprints.items())
        raise DifferentJobsError(f"{job_file}: the machines of this run read different datasets: {said}; "
                                 "give every machine the same images and landmarks")
