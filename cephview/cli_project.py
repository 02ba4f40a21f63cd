"""``cephview project init|add|import|export|history LOCATION ...``: a project without the window.

LOCATION is a project folder (SQLite) or a ``postgresql://`` URL (a project shared by the
workstations of a practice). A location that cannot be opened (a wrong URL, an unreachable
server, a refused login) is one error line and exit 2; never a local project instead.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from cephview.core.errors import CephviewError

log = logging.getLogger(__name__)


def _open(args: argparse.Namespace, create: bool = False):
    from cephview.core.store import ProjectStore

    return ProjectStore.open(args.location, create=create, user=args.user, image_roots=args.image_root or ())


def cmd_project_init(args: argparse.Namespace) -> int:
    with _open(args, create=True) as store:
        print(f"project {store.path}: database version {store.schema_version}, {len(store.images())} image(s)")
    return 0


def cmd_project_add(args: argparse.Namespace) -> int:
    from cephview.cli_common import error, report_failures
    from cephview.core.inputs import expand_inputs

    paths = expand_inputs(args.paths)
    if not paths:
        raise CephviewError(f"{' '.join(args.paths)}: no images found")
    failures: dict[str, str] = {}
    added = 0
    with _open(args) as store:
        for path in paths:
            try:
                record = store.add_image(path)
            except (CephviewError, OSError) as exc:
                failures[str(path)] = str(exc)
                error(f"{path}: {exc}" if str(path) not in str(exc) else str(exc))
                continue
            added += 1
            if record.error:
                failures[str(path)] = record.error
                error(f"{path}: {record.error}")
    print(f"{added} of {len(paths)} image(s) in the project")
    return report_failures(failures, len(paths))


def cmd_project_import(args: argparse.Namespace) -> int:
    """One transaction per file: a bad row refuses its whole file; the other files go on."""
    from cephview.cli_common import error, report_failures
    from cephview.core.project_exchange import import_reviewed_csv

    failures: dict[str, str] = {}
    with _open(args) as store:
        for csv_path in args.csv:
            try:
                summary = import_reviewed_csv(store, csv_path)
            except CephviewError as exc:
                failures[str(csv_path)] = str(exc)
                error(str(exc))
                continue
            print(f"{csv_path}: {summary.landmarks} landmark(s) of {summary.images} image(s) imported")
    return report_failures(failures, len(args.csv))


def cmd_project_export(args: argparse.Namespace) -> int:
    from cephview.cli_common import check_output
    from cephview.core.project_exchange import export_long_csv

    check_output(args.out)
    with _open(args) as store:
        count = export_long_csv(store, args.out)
    print(f"{args.out}: landmarks of {count} image(s)")
    return 0


def cmd_project_history(args: argparse.Namespace) -> int:
    """Who changed what and when (newest first)."""
    with _open(args) as store:
        if store.image(args.image) is None:
            raise CephviewError(f"{args.image}: not in this project")
        for change in store.history(args.image, args.limit):
            detail = ", ".join(f"{k}={v}" for k, v in change.detail.items())
            print(f"{change.edited_at}  {change.edited_by or '-':<24} {change.what:<10} {detail}")
    return 0


def add_commands(sub) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("location", help="project folder, or postgresql://USER@HOST[:PORT]/DATABASE[?sslmode=require]")
    common.add_argument("--user", help="name recorded with each edit (default: $CEPHVIEW_USER, else login@workstation)")
    common.add_argument("--image-root", action="append", metavar="DIR",
                        help="where this workstation finds images stored under another path (by content "
                             "hash); repeatable; also $CEPHVIEW_IMAGE_ROOTS")

    project = sub.add_parser("project", help="create a project, add images, import/export reviewed landmarks")
    actions = project.add_subparsers(dest="project_command", required=True)
    p = actions.add_parser("init", parents=[common], help="create the project (a folder or a database URL)")
    p.set_defaults(func=cmd_project_init)
    p = actions.add_parser("add", parents=[common], help="register images (no prediction needed)")
    p.add_argument("paths", nargs="+", help="image files or folders")
    p.set_defaults(func=cmd_project_add)
    p = actions.add_parser("import", parents=[common],
                           help="reviewed landmarks from a long CSV (image,landmark,x_px,y_px[,status]); "
                                "one transaction per file")
    p.add_argument("csv", nargs="+", type=Path)
    p.set_defaults(func=cmd_project_import)
    p = actions.add_parser("export", parents=[common], help="the long exchange CSV with status and AI positions")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_project_export)
    p = actions.add_parser("history", parents=[common], help="who changed an image's landmarks, and when")
    p.add_argument("image", help="the image as the project stores it, or its path")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_project_history)
