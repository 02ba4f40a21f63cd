"""The one conversion between cephview pixel positions and DICOM image coordinates.

cephview puts pixel centres at integers: the centre of the top-left pixel is (0, 0). DICOM image
coordinates (PS3.3 C.18.6.1.1, used by SR SCOORD and presentation state graphics in PIXEL units)
put the top-left *corner* of that pixel at (0.0, 0.0) and its bottom-right corner at (1.0, 1.0), so
its centre is (0.5, 0.5). Both are column first. Every DICOM writer and reader here goes through
these two functions; nothing else adds or subtracts the half pixel.
"""

from __future__ import annotations

PIXEL_CENTRE_OFFSET = 0.5


def to_dicom(x: float, y: float) -> tuple[float, float]:
    """cephview (x=column, y=row, centres at integers) -> DICOM image (column, row)."""
    return float(x) + PIXEL_CENTRE_OFFSET, float(y) + PIXEL_CENTRE_OFFSET


def from_dicom(column: float, row: float) -> tuple[float, float]:
    """DICOM image (column, row) -> cephview (x, y)."""
    return float(column) - PIXEL_CENTRE_OFFSET, float(row) - PIXEL_CENTRE_OFFSET
