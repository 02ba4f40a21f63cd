"""Writer process for test_store_crash.py: commits edits forever, reporting each after its commit.

Usage: python store_crash_writer.py PROJECT_FOLDER_OR_URL [A_KEY B_KEY]

(the keys of ``a.png`` and ``b.png`` as the project stores them; a database stores absolute paths)

Every edit number ``i`` (continuing from the ``counter`` setting) does one of:
- ``save_landmark("a.png", E<i> at x=i)``: a new landmark per edit, so each edit is checkable;
- every 7th: ``save_annotation`` of ``b.png`` with all 19 landmarks at x=i (atomicity: all equal);
- every 5th: ``set_image_fields("a.png", notes=str(i))``;
then ``set_setting("counter", i)``. After each commit it prints ``<kind> <i>`` and flushes.
"""

from __future__ import annotations

import sys

from cephview.core.annotations import ImageAnnotation, LandmarkAnnotation, LandmarkStatus
from cephview.core.store import ProjectStore


def main(location: str, a_key: str = "a.png", b_key: str = "b.png") -> None:
    store = ProjectStore.open(location, create=False)
    i = store.get_setting("counter", 0)
    b = store.load_annotation(b_key)
    assert b is not None
    while True:
        i += 1
        if i % 7 == 0:
            ann = ImageAnnotation(b.image, b.schema, {
                code: LandmarkAnnotation(code, float(i), float(i), float(i), 0.0, 0.5, LandmarkStatus.AI, "crash")
                for code in b.landmarks
            }, notes=str(i))
            store.save_annotation(ann)
            kind = "b"
        elif i % 5 == 0:
            store.set_image_fields(a_key, notes=str(i))
            kind = "n"
        else:
            store.save_landmark(a_key, LandmarkAnnotation(f"E{i}", float(i), 1.0, status=LandmarkStatus.MANUAL,
                                                            edited_at="2024-01-01T00:00:00+00:00"))
            kind = "e"
        sys.stdout.write(f"{kind} {i}\n")
        sys.stdout.flush()
        store.set_setting("counter", i)
        sys.stdout.write(f"c {i}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(*sys.argv[1:4])
