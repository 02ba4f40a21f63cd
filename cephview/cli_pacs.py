"""``cephview pacs echo|find|get|send``: the PACS from the command line (DIMSE, pynetdicom).

A server that is down, refuses the association or finds nothing gives one line
``cephview: error: ...`` and exit status 2; ``get`` leaves nothing in the target folder then.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from cephview.core.errors import CephviewError

log = logging.getLogger(__name__)


def _connection(args: argparse.Namespace):
    from cephview.interop.pacs import Connection, Server

    if not args.verbose:
        # pynetdicom logs each refused or failed association at ERROR; the one-line error says it.
        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    return Connection(Server.parse(args.server), args.calling_aet, args.timeout)


def _dicomweb(args: argparse.Namespace):
    """A DICOMweb server when --server is a URL; None for a DIMSE node (AET@HOST:PORT)."""
    from cephview.interop.dicomweb import DicomWeb, is_dicomweb

    return DicomWeb(args.server, args.timeout) if is_dicomweb(args.server) else None


def cmd_echo(args: argparse.Namespace) -> int:
    from cephview.interop.pacs import echo

    web = _dicomweb(args)
    if web is not None:
        web.echo()
        print(f"{web.url}: DICOMweb search ok")
        return 0
    conn = _connection(args)
    echo(conn)
    print(f"{conn.server}: C-ECHO ok")
    return 0


def cmd_find(args: argparse.Namespace) -> int:
    from cephview.interop.pacs import PacsError, find_studies

    web = _dicomweb(args)
    if web is not None:
        studies = web.find_studies(args.patient_id, args.modality, args.date)
    else:
        studies = find_studies(_connection(args), args.patient_id, args.modality, args.date)
    for study in studies:
        print(json.dumps(study, ensure_ascii=False))
    if not studies:
        raise PacsError(f"{args.server}: no study matches")
    return 0


def _listen(text: str) -> tuple[str, int]:
    from cephview.interop.pacs import DEFAULT_LISTEN

    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise CephviewError(f"--listen {text!r}: expected [HOST:]PORT") from None
    if not 0 < number < 65536:
        raise CephviewError(f"--listen {text!r}: port out of range")
    return host.strip("[]") or DEFAULT_LISTEN[0], number  # a bare port: this computer only


def cmd_get(args: argparse.Namespace) -> int:
    from cephview.interop.pacs import get_study

    if args.into.exists() and not args.into.is_dir():
        raise CephviewError(f"{args.into}: exists and is not a folder")
    web = _dicomweb(args)
    if web is not None:
        files = web.get_study(args.study_uid, args.into)
    else:
        files = get_study(_connection(args), args.study_uid, args.into, args.method, _listen(args.listen))
    for path in files:
        print(path)
    log.info("retrieved %d instance(s) of %s into %s", len(files), args.study_uid, args.into)
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    from cephview.interop.pacs import send_files

    web = _dicomweb(args)
    paths = [Path(p) for p in args.files]
    stored = web.send_files(paths) if web is not None else send_files(_connection(args), paths)
    print(f"{args.server}: stored {len(stored)} object(s)")
    return 0


def add_pacs_command(sub: argparse._SubParsersAction) -> None:
    from cephview.interop.pacs import DEFAULT_CALLING_AET, DEFAULT_TIMEOUT

    pacs = sub.add_parser("pacs", help="talk to a PACS: echo, find, get, send (DICOM DIMSE)")
    verbs = pacs.add_subparsers(dest="pacs_command", required=True, metavar="{echo,find,get,send}")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--server", required=True, metavar="AET@HOST:PORT|URL",
                       help="the PACS: a DICOM node, e.g. ORTHANC@10.0.0.5:4242, or a DICOMweb root URL, "
                            "e.g. http://10.0.0.5:8042/dicom-web")
        p.add_argument("--calling-aet", default=DEFAULT_CALLING_AET,
                       help=f"this program's AE title, as the PACS knows it (default {DEFAULT_CALLING_AET})")
        p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                       help=f"seconds to wait for the connection and each reply (default {DEFAULT_TIMEOUT:g})")

    p = verbs.add_parser("echo", help="C-ECHO: is the server there and does it accept us?")
    common(p)
    p.set_defaults(func=cmd_echo)

    p = verbs.add_parser("find", help="C-FIND studies; one JSON object a line")
    common(p)
    p.add_argument("--patient-id")
    p.add_argument("--modality", help="e.g. CR or DX")
    p.add_argument("--date", help="study date YYYYMMDD or range FROM-TO (either end may be left open)")
    p.set_defaults(func=cmd_find)

    p = verbs.add_parser("get", help="retrieve a study into a folder (C-GET, or C-MOVE where the server needs it)")
    common(p)
    p.add_argument("study_uid", help="Study Instance UID (from `cephview pacs find`)")
    p.add_argument("--into", required=True, type=Path, help="folder for the files, named <SOPInstanceUID>.dcm")
    p.add_argument("--method", choices=["auto", "get", "move"], default="auto",
                   help="auto (default): C-GET, falling back to C-MOVE where the server refuses C-GET")
    p.add_argument("--listen", default="127.0.0.1:11113", metavar="[HOST:]PORT",
                   help="where the storage SCP listens for C-MOVE (default 127.0.0.1:11113, this computer "
                        "only; name an address, or 0.0.0.0 for all, for a PACS on another machine); the "
                        "server must know the calling AE title at this address, and only its own AE title "
                        "may store")
    p.set_defaults(func=cmd_get)

    p = verbs.add_parser("send", help="C-STORE files (e.g. the SR and presentation state of export-dicom)")
    common(p)
    p.add_argument("files", nargs="+", help="DICOM files")
    p.set_defaults(func=cmd_send)
