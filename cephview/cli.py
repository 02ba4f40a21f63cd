"""The ``cephview`` command line: the same core/model/analysis functions the GUI calls.

Errors a user can meet print one line ``cephview: error: <path>: <reason>`` and exit with 2;
batch commands go on with the other files and list the failures at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from cephview import __version__
from cephview.bundle import has_torchvision, help_epilog, torchvision_missing_message, version_text
from cephview.cli_common import (
    EXIT_USAGE,
    add_dataset_args,
    check_output,
    error,
    open_dataset_from_args,
    report_failures,
)
from cephview.core.errors import CephviewError, one_line
from cephview.core.inputs import expand_inputs
from cephview.model.config_checks import ENCODERS

log = logging.getLogger("cephview")

# ---------------------------------------------------------------- info
def cmd_info(args: argparse.Namespace) -> int:
    from cephview.core.radiograph import load_radiograph

    paths = expand_inputs(args.paths)
    if not paths:
        raise CephviewError(f"{' '.join(args.paths)}: no images found")
    results, failures = [], {}
    for path in paths:
        try:
            info = load_radiograph(path).info()
            if not args.path_field and len(paths) == 1:  # several entries: each says its file
                info.pop("path", None)
            results.append(info)
        except CephviewError as exc:
            failures[str(path)] = str(exc)
            error(str(exc))
    if len(paths) == 1 and results:
        print(json.dumps(results[0], indent=2))
    elif results:
        print(json.dumps(results, indent=2))
    return report_failures(failures, len(paths)) if len(paths) > 1 else (EXIT_USAGE if failures else 0)


# ---------------------------------------------------------------- predict
def cmd_predict(args: argparse.Namespace) -> int:
    from cephview.core.csvio import write_predictions_csv
    from cephview.core.radiograph import load_radiograph
    from cephview.model.predictor import Predictor
    from cephview.progress import ProgressBar

    check_output(args.out)
    predictor = Predictor.from_file(args.model, device=args.device, patch_views=args.patch_views)
    paths = expand_inputs(args.paths)
    if not paths:
        raise CephviewError(f"{' '.join(args.paths)}: no images found")
    rows, failures = [], {}
    bar = ProgressBar("predict")
    for i, path in enumerate(paths):
        try:
            radiograph = load_radiograph(path)
            pred = predictor.predict(radiograph.model_pixels, facing=args.facing, refine=not args.no_refine)
            warning = radiograph.warning_text  # a damaged file that still loaded: said on each row
            for code, (x, y), c in zip(pred.codes, pred.points, pred.confidence):
                rows.append((path.name, code, float(x), float(y), float(c), warning))
        except CephviewError as exc:
            failures[str(path)] = str(exc)
            bar.message(f"cephview: error: {one_line(exc)}")
        except Exception as exc:  # one bad file must not end the batch
            log.debug("prediction failed on %s", path, exc_info=True)
            failures[str(path)] = f"{path}: prediction failed ({type(exc).__name__}: {exc})"
            bar.message(f"cephview: error: {one_line(failures[str(path)])}")
        bar.update(i + 1, len(paths))
    bar.close()
    if not rows and failures:  # every input failed: no header-only file that looks like a result
        return report_failures(failures, len(paths))
    write_predictions_csv(args.out, rows)
    log.info("wrote %d landmarks of %d images to %s", len(rows), len(paths) - len(failures), args.out)
    return report_failures(failures, len(paths))


def add_patch_views_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--patch-views", type=int, default=1, choices=range(1, 6), metavar="N",
                   help="refinement patches averaged per landmark, 1 to 5 (default 1; more: steadier on "
                        "images unlike the training data, slower)")


# ---------------------------------------------------------------- datasets
# ---------------------------------------------------------------- train
def _check_train_numbers(args: argparse.Namespace) -> None:
    """Refuse values that would train on nothing or build a network that cannot run."""
    if args.val_fraction is not None and not 0 <= args.val_fraction < 1:
        raise CephviewError(f"--val-fraction must be at least 0 and below 1, got {args.val_fraction}")
    if args.patch_size is not None and (args.patch_size < 16 or args.patch_size % 2):
        # even: the heatmap is half the patch's side
        raise CephviewError(f"--patch-size must be an even number of at least 16, got {args.patch_size}")
    for name in ("epochs", "epochs_global", "epochs_refine"):
        value = getattr(args, name, None)
        if value is not None and value < 0:
            raise CephviewError(f"--{name.replace('_', '-')} must not be negative, got {value}")
    if args.lr is not None and not args.lr > 0:
        raise CephviewError(f"--lr must be a positive number, got {args.lr}")


def cmd_train(args: argparse.Namespace) -> int:
    from cephview.cli_experiments import launch_distributed, list_configs_text, reproduce_command, train_config
    from cephview.model.train import TrainingCancelled, TrainProgress, fit
    from cephview.progress import ProgressBar, format_seconds

    if args.list_configs:
        print(list_configs_text())
        return 0
    _check_train_numbers(args)
    if args.encoder == "resnet18" and not has_torchvision():  # say so before the images load
        raise CephviewError(torchvision_missing_message())
    if args.project:
        return cmd_train_project(args)
    if args.out is None:
        raise CephviewError("--out is missing: give the model file to write (or --project DIR to fine-tune a project)")
    cfg, experiment = train_config(args)  # a bad configuration fails before the images are read
    dataset = open_dataset_from_args(args)
    command = reproduce_command(args, experiment, cfg)
    if args.devices > 1 or args.nodes > 1:
        return launch_distributed(args, cfg, experiment, command)
    bar = ProgressBar("train")

    def progress(p: TrainProgress) -> None:
        if p.finished_epoch:
            val = f"val {p.val_error:.3f}" if p.val_error == p.val_error else "no validation"
            bar.message(f"{p.stage} epoch {p.epoch}/{p.epochs}  loss {p.loss:.4f}  {val}  ETA {format_seconds(p.seconds_left)}")
        else:
            bar.update(p.step, p.steps, f"{p.stage} epoch {p.epoch}/{p.epochs} loss {p.loss:.4f}", p.seconds_left)

    try:
        model = fit(dataset, cfg, args.out, init=args.init, device=args.device, progress=progress, resume=args.resume,
                    experiment=experiment.meta(command))
    except TrainingCancelled as exc:
        error(str(exc))
        return 1
    bar.close()
    print(json.dumps({"out": str(args.out), "version": model.version, "validation": model.meta["validation"]}, indent=2))
    return 0


# ---------------------------------------------------------------- project fine-tuning
def cmd_train_project(args: argparse.Namespace) -> int:
    """Fine-tune the project's active model on its reviewed images; promote it only if better."""
    from cephview.core.store import ProjectStore
    from cephview.model.finetune.run import finetune_project
    from cephview.model.finetune.settings import FinetuneProgress, FinetuneSettings
    from cephview.model.train import TrainingCancelled
    from cephview.progress import ProgressBar, format_seconds

    settings = FinetuneSettings(freeze_encoder=args.freeze_encoder, force=args.force, num_threads=args.threads,
                                device=args.device, adapt_scale=not args.keep_scale)
    if args.epochs is not None:
        settings.epochs = args.epochs
    if args.epochs_refine is not None:
        settings.epochs_refine = args.epochs_refine
    if args.lr is not None:
        settings.lr = args.lr
    if args.seed is not None:
        settings.seed = args.seed
    if args.stages:
        settings.stages = args.stages.split(",")
    base = None
    if args.mix_base:
        from cephview.core.datasets import read_isbi2015

        base = read_isbi2015(args.mix_base, "train")
    bar = ProgressBar("fine-tune")

    def progress(p: FinetuneProgress) -> None:
        t = p.train
        if t is not None and t.finished_epoch:
            bar.message(f"{t.stage} epoch {t.epoch}/{t.epochs}  loss {t.loss:.4f}  ETA {format_seconds(t.seconds_left)}")
        elif t is not None:
            bar.update(t.step, t.steps, f"{t.stage} epoch {t.epoch}/{t.epochs} loss {t.loss:.4f}", t.seconds_left)
        elif p.total:
            bar.update(p.done, p.total, p.phase)

    with ProjectStore.open(args.project, create=False) as store:
        try:
            result = finetune_project(store, settings, progress, base_data=base)
        except TrainingCancelled as exc:
            bar.close()
            error(str(exc))
            return 1
        bar.close()
        unit = result.unit
        where = "training images, in-sample" if result.in_sample else "held-out images"
        print(f"trained on {len(result.train_images)} reviewed image(s)"
              + (f" + {result.base_per_epoch} of {result.base_images} base image(s) each epoch" if result.base_images else "")
              + f" in {result.training_seconds:.0f} s; compared on {len(result.held_out)} {where}")
        if result.note:
            print(f"note: {result.note}")
        if result.scale is not None:
            print(result.scale.describe())
        change = result.relative_change
        print(f"MRE before ({result.parent.version}): {result.before.mre:.3f} {unit}")
        print(f"MRE after  ({result.version.version}): {result.after.mre:.3f} {unit}"
              + (f"  ({100 * change:+.1f} %)" if change is not None else ""))
        verdict = "promoted: now the active model" if result.promoted else "kept aside (the active model is unchanged)"
        print(f"{result.version.version} {verdict}; {result.reason}")
        if result.promoted and result.to_repredict:
            if args.repredict:
                from cephview.model.predictor import Predictor
                from cephview.model.project_data import repredict_unreviewed
                from cephview.model.registry import ModelRegistry

                predictor = Predictor.from_file(ModelRegistry(store).active_path(), device=args.device or "cpu")
                done = repredict_unreviewed(store, predictor, result.to_repredict, progress=ProgressBar("predict").update)
                print(f"predicted {len(done.updated)} unreviewed image(s) again")
                return report_failures(done.failures, len(result.to_repredict))
            print(f"{len(result.to_repredict)} unreviewed image(s) could be predicted again (--repredict)")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """List a project's model versions, or make one of them active again."""
    from cephview.core.store import ProjectStore
    from cephview.model.registry import ModelRegistry

    with ProjectStore.open(args.project, create=False) as store:
        registry = ModelRegistry(store)
        if args.activate:
            v = registry.activate(args.activate)
            print(f"active model: {v.version}")
            return 0
        active = registry.active
        print(f"  {'version':<8} {'parent':<7} {'created':<26} {'before':>8} {'after':>8} unit  status")
        for v in registry.list_versions():
            m = v.metrics
            fig = lambda x: f"{x:8.3f}" if isinstance(x, (int, float)) else f"{'-':>8}"  # noqa: E731
            status = "shipped" if v.is_base else ("promoted" if v.promoted else "kept aside")
            if v.forced:
                status += " (forced)"
            if m.get("in_sample"):
                status += ", in-sample figures"
            print(f"{'*' if v.version == active else ' '} {v.version:<8} {v.parent or '-':<7} {v.created or '-':<26} "
                  f"{fig(m.get('parent_mre'))} {fig(m.get('mre'))} {m.get('unit', '-'):<4}  {status}")
    return 0


# ---------------------------------------------------------------- evaluate
def reliability_plot_path(plot: Path) -> Path:
    """``errors.png`` -> ``errors-reliability.png``: the second figure of ``evaluate --plot``."""
    plot = Path(plot)
    return plot.with_name(f"{plot.stem}-reliability{plot.suffix or '.png'}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.compare:
        from cephview.cli_experiments import run_compare

        return run_compare(args)
    from cephview.model.confidence_metrics import (
        REPORT_HEADER,
        confidence_report,
        format_reliability,
        format_report_row,
        reliability,
    )
    from cephview.model.evaluate import evaluate_dataset, observer_agreement, per_landmark_errors
    from cephview.model.metrics import format_table
    from cephview.model.predictor import Predictor
    from cephview.progress import ProgressBar

    check_output(args.json)
    check_output(args.plot)
    dataset = open_dataset_from_args(args)
    predictor = Predictor.from_file(args.model, device=args.device, patch_views=args.patch_views)
    bar = ProgressBar("evaluate")
    result = evaluate_dataset(predictor, dataset, progress=bar.update, refine=not args.no_refine)
    bar.close()
    print(f"model {predictor.model.version} on {dataset.description}: {len(dataset)} images, "
          f"{result.seconds_per_image:.3f} s per image")
    print(format_table(result.evaluations, dataset.schema.codes))
    observers = observer_agreement(dataset)
    if observers is not None:
        print(f"\nthe doctors themselves: junior vs senior MRE {observers.mre:.3f} {observers.unit} "
              f"(SDR2 {100 * observers.sdr.get(2.0, float('nan')):.1f}%); each doctor lies "
              f"{observers.mre / 2:.3f} {observers.unit} from their mean on average")
    ref = result.evaluations[0]
    errors = per_landmark_errors(result, dataset, ref.reference)
    conf = confidence_report(result.confidences, errors)
    print(f"\nconfidence (probability within 2 {ref.unit} of the {ref.reference}): finding the errors, calibration")
    print(REPORT_HEADER + "\n" + format_report_row(conf))
    print(format_reliability(reliability(result.confidences, errors)))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "model": predictor.model.version, "dataset": dataset.description,
            "seconds_per_image": result.seconds_per_image, "failures": result.failures,
            "evaluations": [e.to_dict() for e in result.evaluations],
            "observer_agreement": observers.to_dict() if observers is not None else None,
            "confidence": conf.to_dict(),
        }, indent=2))
    if args.plot:
        from cephview.model.error_plot import draw_error_boxplot, draw_reliability_diagram

        draw_error_boxplot(errors, dataset.schema.codes, args.plot, ref.unit, f"{dataset.description} vs {ref.reference}")
        diagram = reliability_plot_path(args.plot)
        draw_reliability_diagram(reliability(result.confidences, errors), diagram,
                                 f"{dataset.description} vs {ref.reference}, ECE {conf.ece:.3f}")
        print(f"plots: {args.plot} (errors per landmark), {diagram} (confidence reliability)")
    return report_failures(result.failures, len(dataset))


# ---------------------------------------------------------------- measure, report
def cmd_measure(args: argparse.Namespace) -> int:
    from cephview.cli_report import run_measure

    return run_measure(args)


def cmd_report(args: argparse.Namespace) -> int:
    from cephview.cli_report import run_report

    return run_report(args)


# ---------------------------------------------------------------- gui
def cmd_gui(args: argparse.Namespace) -> int:
    try:
        from cephview.gui.app import main as gui_main
    except ImportError as exc:
        raise CephviewError(f"the GUI cannot start ({exc})") from None
    return gui_main([str(p) for p in args.paths])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cephview", description="Cephalometric landmark detection and review.",
                                     epilog=help_epilog())
    parser.add_argument("--version", action="version", version=version_text(__version__))
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("info", help="print size, calibration and format of radiographs as JSON")
    p.add_argument("paths", nargs="+")
    p.add_argument("--path-field", action="store_true", help="include the file path (always, with more than one input)")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("predict", help="predict landmarks, write the long CSV")
    p.add_argument("paths", nargs="+", help="images or folders")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--model", type=Path, help="model file (default: the shipped model)")
    p.add_argument("--facing", choices=["auto", "right", "left"], default="auto")
    p.add_argument("--no-refine", action="store_true", help="skip the patch refinement stage")
    add_patch_views_arg(p)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("train", help="train a model, fine-tune one with --init, or a project's with --project")
    add_dataset_args(p, "train")
    p.add_argument("--out", type=Path, help="model file to write (not with --project)")
    p.add_argument("--project", help="fine-tune this project's (folder or postgresql:// URL) active model on its reviewed images")
    p.add_argument("--freeze-encoder", action="store_true", help="train only the decoder (faster, forgets less)")
    p.add_argument("--mix-base", type=Path, metavar="DIR_ISBI",
                   help="mix in ISBI 2015 training images (with --project), given the project's contrast and "
                        "scale; each epoch draws as many afresh as the project has training images")
    p.add_argument("--force", action="store_true", help="promote even if not better on the held-out images")
    p.add_argument("--keep-scale", action="store_true",
                   help="keep the refinement patch scale even if the project's images draw the anatomy larger or smaller")
    p.add_argument("--repredict", action="store_true", help="after promotion, predict unreviewed images again")
    p.add_argument("--init", type=Path, help="model to fine-tune from")
    p.add_argument("--epochs", type=int, help="epochs of every stage")
    p.add_argument("--epochs-global", type=int)
    p.add_argument("--epochs-refine", type=int)
    p.add_argument("--stages", help="comma-separated: global,refine")
    p.add_argument("--encoder", choices=ENCODERS,
                   help="default efficientnet_lite0" + ("" if has_torchvision() else "; the ResNets need torchvision (not here)"))
    p.add_argument("--input-size", help="global stage input WxH, multiples of 32 (default 320x384)")
    p.add_argument("--patch-size", type=int, help="refinement patch side in pixels (default 128)")
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--val-fraction", type=float)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.ckpt")
    from cephview.cli_experiments import add_compare_args, add_train_experiment_args

    add_train_experiment_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("models", help="list a project's model versions, or --activate one")
    p.add_argument("--project", required=True, help="project folder or postgresql:// URL")
    p.add_argument("--activate", metavar="VERSION", help="make VERSION (e.g. v2, or base) the active model")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("evaluate", help="score a model: MRE, SD, SDR, per landmark")
    add_dataset_args(p, "test1")
    p.add_argument("--model", type=Path)
    p.add_argument("--json", type=Path)
    p.add_argument("--plot", type=Path, help="PNG box plot of per-landmark errors; the confidence reliability "
                                             "diagram goes beside it as NAME-reliability.png")
    p.add_argument("--no-refine", action="store_true")
    add_patch_views_arg(p)
    p.add_argument("--device", default="cpu")
    add_compare_args(p)
    p.set_defaults(func=cmd_evaluate)

    from cephview.cli_report import add_landmark_source_args

    p = sub.add_parser("measure", help="measure analyses from landmarks (CSV or model), write a CSV")
    p.add_argument("paths", nargs="+", help="images or folders")
    p.add_argument("--out", required=True, type=Path, help="measurement CSV to write")
    p.add_argument("--analyses", help="comma-separated, e.g. steiner,downs (default: all)")
    add_landmark_source_args(p)
    p.set_defaults(func=cmd_measure)

    p = sub.add_parser("report", help="write a PDF report of one image: tracing, landmarks, measurements")
    p.add_argument("path", help="image file")
    p.add_argument("--out", required=True, type=Path, help="PDF to write")
    p.add_argument("--analyses", help="comma-separated, e.g. steiner,downs (default: steiner,downs)")
    p.add_argument("--include-patient", action="store_true",
                   help="print patient name, ID and birth date (left out by default)")
    add_landmark_source_args(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("gui", help="open the review window (also: cephview [PATH...])")
    p.add_argument("paths", nargs="*")
    p.set_defaults(func=cmd_gui)
    # Command families in modules of their own register here (each: add_commands(sub)).
    from cephview import cli_serial
    cli_serial.add_commands(sub)
    from cephview import cli_dicom

    cli_dicom.add_commands(sub)
    from cephview import cli_project
    cli_project.add_commands(sub)
    return parser


def configure_logging(verbose: bool) -> None:
    """cephview's warnings on stderr; what libraries say (pydicom, Python warnings from numpy, and
    the C libraries' output captured by the loader) only with ``-v``."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    if not verbose:
        for library in ("pydicom", "py.warnings", "PIL"):
            logging.getLogger(library).setLevel(logging.CRITICAL + 1)


def command_names(parser: argparse.ArgumentParser) -> set[str]:
    """The subcommands the parser knows, so `cephview PATH` can tell a path from a command."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # `cephview` and `cephview PATH...` open the GUI.
    if not argv or (argv[0] not in command_names(parser) and not argv[0].startswith("-")):
        argv = ["gui", *argv]
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except CephviewError as exc:
        error(str(exc))
        return EXIT_USAGE
    except OSError as exc:  # a file the user named cannot be read or written (permission, disk full)
        error(f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
