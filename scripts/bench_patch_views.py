"""Does averaging shifted refinement patches pay for its time? ISBI Test1 and a simulated new device.

    python scripts/bench_patch_views.py [--model FILE] [--views 1 5] [--scale 0.7]

Scores the model with each number of patch views (``Predictor(patch_views=N)``) on the 150 ISBI
Test1 images as they are, and on the same images turned into the simulated new device of
``bench_finetune.py`` (cropped, 0.7x, another contrast curve, blur, noise), without any
fine-tuning. Prints MRE and SDR against the mean of the two doctors, and seconds per image.
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
    ap.add_argument("--views", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--scale", type=float, default=0.7, help="rescale of the simulated device")
    args = ap.parse_args(argv)
    sets = device_bench_sets(args, [args.scale])
    model = load_model(args.model)
    print(f"model {model.version}; mean of the doctors as reference")
    print(f"{'images':<28}{'views':>6}{'MRE mm':>9}{'SDR2':>8}{'SDR4':>8}{'s/image':>9}")
    for name, data in sets:
        for views in args.views:
            result = evaluate_dataset(Predictor(model, patch_views=views), data)
            ev = result.evaluations[0]
            print(f"{name:<28}{views:>6}{ev.mre:>9.3f}{100 * ev.sdr[2.0]:>7.1f}%{100 * ev.sdr[4.0]:>7.1f}%"
                  f"{result.seconds_per_image:>9.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
