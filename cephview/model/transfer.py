"""Transfer initialisation: start a network from another model's tensors where names and shapes match.

Unlike fine-tuning (``--init``), the architecture may differ: a U-Net at 512 px can take the
encoder of a plain heatmap network trained at 256 px (convolutions do not depend on the input
size), while its decoder, of another shape, starts fresh.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from cephview.core.errors import CephviewError

log = logging.getLogger(__name__)


def transfer_weights(net: torch.nn.Module, source: str | Path, stage: str, architecture: str) -> dict:
    """Copy the tensors of ``source``'s stage ``stage`` into ``net`` where name and shape agree:
    the encoder's always, the rest (decoder, heads) only from a source of the same architecture,
    where the names mean the same layers.

    Returns what was copied (counts per top-level module); an error when nothing matches, since a
    configuration that names a source expects it to be used.
    """
    from cephview.model.modelfile import load_model

    model = load_model(source)
    if stage not in model.stages:
        raise CephviewError(f"{source}: no {stage} stage to transfer weights from")
    source_cfg, source_net = model.stages[stage]
    same_architecture = source_cfg.architecture == architecture
    theirs = source_net.state_dict()
    own = net.state_dict()
    taken = {k: v for k, v in theirs.items() if k in own and own[k].shape == v.shape
             and (same_architecture or k.startswith("encoder."))}
    if not taken:
        raise CephviewError(f"{source}: none of its {stage} stage's weights fits this network (another encoder?)")
    own.update({k: v.to(own[k].dtype) for k, v in taken.items()})
    net.load_state_dict(own)
    parts: dict[str, int] = {}
    for k in taken:
        parts[k.split(".")[0]] = parts.get(k.split(".")[0], 0) + 1
    summary = {"source_version": model.version, "tensors": len(taken), "of": len(own), "by_module": parts}
    log.info("transferred %d of %d tensors of the %s stage from %s: %s", len(taken), len(own), stage, source, parts)
    return summary
