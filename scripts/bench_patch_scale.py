"""Does re-scaling the refinement patch by each image's head size help on other pixel sizes?

    python scripts/bench_patch_scale.py [--model FILE] [--scales 0.7 0.5 1.4] [--n 150]

Scores the model with the refinement patch at its training scale
(``Predictor(adapt_patch_scale=False)``) and re-scaled per image by the head size its global
landmarks show (the default), on the ISBI Test1 images as they are and turned into simulated
devices at other pixel sizes (``bench_finetune.py``: cropped, re-sampled, another contrast
curve, blur, noise). Prints MRE and SDR against the mean of the two doctors, in mm.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_finetune import device_bench_parser, device_bench_sets  # noqa: E402

from cephview.model.evaluate import evaluate_dataset  # noqa: E402
from cephview.model.modelfile import load_model  # noqa: E402
from cephview.model.predictor import Predictor  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = device_bench_parser(__doc__)
    ap.add_argument("--scales", type=float, nargs="+", default=[0.7, 0.5, 1.4], help="pixel-size changes to simulate")
    ap.add_argument("--n", type=int, default=150, help="Test1 images to use (the first N)")
    args = ap.parse_args(argv)
    sets = device_bench_sets(args, args.scales, args.n)
    model = load_model(args.model)
    print(f"model {model.version}; {len(sets[0][1])} images per set; mean of the doctors as reference")
    print(f"{'images':<26}{'patch':>10}{'MRE mm':>9}{'SDR2':>8}{'SDR4':>8}")
    for name, data in sets:
        for adapt in (False, True):
            ev = evaluate_dataset(Predictor(model, adapt_patch_scale=adapt), data).evaluations[0]
            label = "per image" if adapt else "trained"
            print(f"{name:<26}{label:>10}{ev.mre:>9.3f}{100 * ev.sdr[2.0]:>7.1f}%{100 * ev.sdr[4.0]:>7.1f}%", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
