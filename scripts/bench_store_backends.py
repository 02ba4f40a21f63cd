"""Time the project store on its two backends, and the PostgreSQL driver choice; prints tables.

    python scripts/bench_store_backends.py [--edits 1000] [--url postgresql://...]

Without ``--url`` a throw-away PostgreSQL server is started from Debian's binaries (as in the
tests) with its default, durable settings (fsync on), on a temporary folder and 127.0.0.1; the
SQLite project is a temporary folder with ``synchronous=FULL`` as always.

Table 1, the store: ``N`` landmark edits (``save_landmark``, one transaction each, as a drag in
the window), loading an image's record, importing a 19 x 50-row CSV (one transaction), polling
the edit log (what a window does to see other workstations' edits).

Table 2, the driver: the same ``N`` one-row upsert transactions through psycopg 3 with explicit
SQL (what the store uses) and through SQLAlchemy Core 2 (``text()`` on a pooled engine), the
candidate that would have hidden the dialect. SQLAlchemy is optional (``pip install sqlalchemy``).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from cephview.core.annotations import LandmarkAnnotation  # noqa: E402
from cephview.core.project_exchange import import_reviewed_csv  # noqa: E402
from cephview.core.store import ProjectStore  # noqa: E402


def timed(fn, repeat: int) -> float:
    """Seconds per call."""
    start = time.perf_counter()
    for i in range(repeat):
        fn(i)
    return (time.perf_counter() - start) / repeat


def bench_store(location: str, folder: Path, edits: int) -> dict[str, float]:
    films = []
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(50):
        path = folder / f"film{i:02d}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (64, 64), dtype=np.uint8)).save(path)
        films.append(path)
    with ProjectStore.open(location, user="bench") as store:
        keys = [store.add_image(p).rel_path for p in films]
        codes = list(store.load_annotation(keys[0]).landmarks)
        out = {}
        out["landmark edit (1 transaction)"] = timed(
            lambda i: store.save_landmark(keys[0], LandmarkAnnotation(codes[i % 19]).moved_to(i % 60, 7.0)), edits)
        out["load one image's record"] = timed(lambda i: store.load_annotation(keys[i % 50]), 200)
        token = store.change_token()
        out["poll the edit log"] = timed(lambda i: store.changes_since(token), 200)
        rows = [["image", "landmark", "x_px", "y_px"]] + [[p.name, c, 10, 10] for p in films for c in codes]
        csv_path = folder / "import.csv"
        with csv_path.open("w", newline="") as f:
            csv.writer(f).writerows(rows)
        out["import 950 rows (1 transaction)"] = timed(lambda i: import_reviewed_csv(store, csv_path), 3)
    return out


UPSERT = ("INSERT INTO bench (k, v) VALUES ({p}, {p}) ON CONFLICT (k) DO UPDATE SET v = excluded.v")


def bench_drivers(url: str, n: int) -> dict[str, float]:
    import psycopg

    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench (k INTEGER PRIMARY KEY, v INTEGER)")

        def one(i: int) -> None:
            with conn.transaction():
                conn.execute(UPSERT.format(p="%s"), (i % 19, i))

        out["psycopg 3, explicit SQL"] = timed(one, n)
    try:
        import sqlalchemy as sa
    except ImportError:
        return out
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    statement = sa.text(UPSERT.format(p=":k").replace("VALUES (:k, :k)", "VALUES (:k, :v)"))
    with engine.connect() as conn:

        def one_sa(i: int) -> None:
            with conn.begin():
                conn.execute(statement, {"k": i % 19, "v": i})

        out["SQLAlchemy Core 2 (text, on psycopg 3)"] = timed(one_sa, n)
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=1000)
    parser.add_argument("--url", help="an empty database to use instead of a throw-away server")
    parser.add_argument("--runs", type=int, default=3, help="repeat and report the median")
    args = parser.parse_args()
    server = None
    if args.url is None:
        from pg_server import PostgresServer, why_unavailable

        reason = why_unavailable()
        if reason:
            sys.exit(f"bench_store_backends: {reason}")
        server = PostgresServer().start()
    try:
        results: dict[str, list[dict[str, float]]] = {"sqlite": [], "postgresql": []}
        drivers: list[dict[str, float]] = []
        for _run in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                results["sqlite"].append(bench_store(str(Path(tmp) / "project"), Path(tmp) / "project", args.edits))
            url = args.url if args.url else server.new_database()
            with tempfile.TemporaryDirectory() as tmp:
                results["postgresql"].append(bench_store(url, Path(tmp), args.edits))
            drivers.append(bench_drivers(url, args.edits))
            if server is not None:
                server.drop_database(url)
        print(f"project store, median of {args.runs} runs ({args.edits} edits each), ms per operation")
        print(f"| {'operation':<34} | {'SQLite (folder)':>15} | {'PostgreSQL 127.0.0.1':>20} |")
        print(f"|{'-' * 36}|{'-' * 17}|{'-' * 22}|")
        for name in results["sqlite"][0]:
            cells = [1000 * statistics.median(r[name] for r in results[b]) for b in ("sqlite", "postgresql")]
            print(f"| {name:<34} | {cells[0]:>15.2f} | {cells[1]:>20.2f} |")
        print(f"\n{args.edits} one-row upsert transactions on PostgreSQL, ms per transaction")
        print(f"| {'driver':<40} | {'ms':>8} |")
        print(f"|{'-' * 42}|{'-' * 10}|")
        for name in drivers[0]:
            print(f"| {name:<40} | {1000 * statistics.median(d[name] for d in drivers):>8.3f} |")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
