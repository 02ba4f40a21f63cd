"""Which reviewed images judge the old model against the new one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cephview.model.finetune.settings import MIN_IMAGES_FOR_HOLDOUT


@dataclass
class HoldoutSplit:
    train: list[int]
    held_out: list[int]
    in_sample: bool = False  # too few images: compared on the training images
    note: str = ""


def _rank(seed: int, sha: str) -> str:
    return hashlib.sha256(f"{seed}:{sha}".encode()).hexdigest()


def split_holdout(
    keys: list[str], hashes: list[str], fraction: float, seed: int,
    exclude: set[str] | frozenset[str] = frozenset(), min_images: int = MIN_IMAGES_FOR_HOLDOUT,
) -> HoldoutSplit:
    """Which reviewed images judge old vs new; fixed by ``seed`` and each file's content hash.

    Ranking by hash keeps an image's role stable as the project grows. Images that taught the
    current model (``exclude``) are never held out: measuring it on its own training images
    would flatter it.
    """
    n = len(keys)
    if n < min_images:
        everything = list(range(n))
        return HoldoutSplit(everything, everything, True, (
            f"only {n} reviewed image(s), too few to hold any out (at least {min_images}): old and new "
            "were compared on the training images, which favours the new model"))
    n_hold = max(1, round(n * fraction))
    rank = sorted(range(n), key=lambda i: _rank(seed, hashes[i]))
    held = [i for i in rank if keys[i] not in exclude][:n_hold]
    note = ""
    if not held:
        held = rank[:n_hold]
        note = "every reviewed image taught the current model already; the comparison favours it"
    elif len(held) < n_hold:
        note = f"{len(held)} image(s) held out: the others taught the current model"
    held_set = set(held)
    return HoldoutSplit([i for i in range(n) if i not in held_set], sorted(held), False, note)
