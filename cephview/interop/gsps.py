"""A Grayscale Softcopy Presentation State that draws the landmarks and tracings over the image.

Three graphic layers, in PIXEL units of the source image (DICOM image coordinates):

- ``LANDMARKS``: each placed landmark as a POINT, a small CIRCLE (viewers that draw points as one
  pixel still show it) and a text label with its code;
- ``TRACING``: the lines, segments, arcs (as POLYLINEs) and constructed points of the chosen
  analyses, from :func:`cephview.analysis.tracing_primitives`, so they match the numbers;
- ``VALUES``: each measurement's value as text beside its arc or segment.

The image's window is kept: the source's own VOI, else the percentile window cephview shows.
MONOCHROME1 images get Presentation LUT Shape INVERSE so bone stays white, as PS3.3 C.11.6 asks.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import highdicom as hd
import numpy as np
from highdicom.color import CIELabColor
from highdicom.pr import (
    AnnotationUnitsValues,
    GraphicAnnotation,
    GraphicLayer,
    GraphicObject,
    GraphicTypeValues,
    GrayscaleSoftcopyPresentationState,
    SoftcopyVOILUTTransformation,
    TextObject,
)
from pydicom.dataset import Dataset

from cephview import __version__
from cephview.analysis.engine import MeasurementResult, format_value
from cephview.analysis.tracing import TracingPrimitive
from cephview.core.annotations import ImageAnnotation
from cephview.interop.dicom_coords import to_dicom

log = logging.getLogger(__name__)

PR_SERIES_NUMBER = 902
PR_SERIES_DESCRIPTION = "Cephalometric tracing (cephview)"
ARC_STEPS = 16
MARKER_FRACTION = 0.004  # marker circle radius as a fraction of the image's longer side
UNITS = AnnotationUnitsValues.PIXEL
_UNPAIRED_BODY_PARTS = {"HEAD", "SKULL", "FACE", "JAW", "NECK", "CHEST", "ABDOMEN", "PELVIS", "SPINE", "CSPINE",
                        "TSPINE", "LSPINE", "WHOLEBODY"}


def _clip(p: tuple[float, float], q: tuple[float, float], width: float, height: float):
    """The part of segment p-q inside [0, width] x [0, height] (Liang-Barsky); None when outside."""
    t0, t1 = 0.0, 1.0
    dx, dy = q[0] - p[0], q[1] - p[1]
    for edge_p, edge_q in ((-dx, p[0]), (dx, width - p[0]), (-dy, p[1]), (dy, height - p[1])):
        if edge_p == 0:
            if edge_q < 0:
                return None
            continue
        t = edge_q / edge_p
        if edge_p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return None
    def inside(x: float, y: float) -> tuple[float, float]:  # rounding must not step past an edge
        return min(max(x, 0.0), width), min(max(y, 0.0), height)

    return inside(p[0] + t0 * dx, p[1] + t0 * dy), inside(p[0] + t1 * dx, p[1] + t1 * dy)


def _inside(p: tuple[float, float], width: float, height: float) -> bool:
    return 0 <= p[0] <= width and 0 <= p[1] <= height


def _polyline(points: Sequence[tuple[float, float]]) -> GraphicObject:
    return GraphicObject(GraphicTypeValues.POLYLINE, np.array(points, dtype=np.float64), UNITS)


def _arc_points(prim: TracingPrimitive) -> list[tuple[float, float]]:
    cx, cy = prim.points[0]
    steps = [prim.start_deg + prim.span_deg * i / ARC_STEPS for i in range(ARC_STEPS + 1)]
    return [to_dicom(cx + prim.radius * math.cos(math.radians(a)), cy + prim.radius * math.sin(math.radians(a)))
            for a in steps]


def _tracing_objects(tracings: Sequence[TracingPrimitive], width: int, height: int) -> list[GraphicObject]:
    out: list[GraphicObject] = []
    for prim in tracings:
        if prim.kind in ("line", "segment"):
            clipped = _clip(to_dicom(*prim.points[0]), to_dicom(*prim.points[1]), width, height)
            if clipped is not None:
                out.append(_polyline(clipped))
        elif prim.kind == "arc":
            points = _arc_points(prim)
            if all(_inside(p, width, height) for p in points):
                out.append(_polyline(points))
        elif prim.kind == "point":
            p = to_dicom(*prim.points[0])
            if _inside(p, width, height):
                out.append(GraphicObject(GraphicTypeValues.POINT, np.array([p]), UNITS))
    return out


def _value_texts(tracings: Sequence[TracingPrimitive], results: Sequence[MeasurementResult],
                 width: int, height: int) -> list[TextObject]:
    """One label per measured value, beside the arc or segment that draws it."""
    values = {r.name: r for r in results if r.value is not None}
    out, done = [], set()
    for prim in tracings:
        r = values.get(prim.measurement)
        if r is None or r.name in done or prim.kind not in ("arc", "segment"):
            continue
        if prim.kind == "arc":
            mid = math.radians(prim.start_deg + prim.span_deg / 2)
            cx, cy = prim.points[0]
            anchor = to_dicom(cx + 1.4 * prim.radius * math.cos(mid), cy + 1.4 * prim.radius * math.sin(mid))
        else:
            (x0, y0), (x1, y1) = prim.points[:2]
            anchor = to_dicom((x0 + x1) / 2, (y0 + y1) / 2)
        if not _inside(anchor, width, height):
            continue
        # ASCII only: the text is ST in the default character repertoire.
        text = f"{r.name} {format_value(r.value, r.unit)}".replace("\N{DEGREE SIGN}", " deg")  # type: ignore[arg-type]
        out.append(TextObject(text, UNITS, anchor_point=anchor, anchor_point_visible=False))
        done.add(r.name)
    return out


def _landmark_objects(annotation: ImageAnnotation, width: int, height: int):
    radius = MARKER_FRACTION * max(width, height)
    graphics, texts = [], []
    for lm in annotation.ordered():
        if not lm.has_position:
            continue
        p = to_dicom(lm.x, lm.y)  # type: ignore[arg-type]
        if not _inside(p, width, height):
            log.warning("landmark %s lies outside the image; left out of the presentation state", lm.code)
            continue
        graphics.append(GraphicObject(GraphicTypeValues.POINT, np.array([p]), UNITS))
        if _inside((p[0] + radius, p[1]), width, height) and _inside((p[0] - radius, p[1] - radius), width, height) \
                and _inside((p[0], p[1] + radius), width, height):
            graphics.append(GraphicObject(GraphicTypeValues.CIRCLE,
                                          np.array([p, (p[0] + radius, p[1])]), UNITS))
        label = (p[0] + 1.5 * radius, p[1] - 1.5 * radius)
        if _inside(label, width, height):
            texts.append(TextObject(lm.code, UNITS, anchor_point=label, anchor_point_visible=False))
    return graphics, texts


def _voi(source: Dataset, window: tuple[float, float] | None) -> list[SoftcopyVOILUTTransformation] | None:
    if "WindowCenter" in source or "VOILUTSequence" in source or window is None:
        return None  # highdicom copies the image's own VOI
    centre, width = window
    return [SoftcopyVOILUTTransformation(window_center=float(centre), window_width=max(float(width), 1.0),
                                         window_explanation="cephview percentile window")]


def build_gsps(
    source: Dataset,
    annotation: ImageAnnotation,
    tracings: Sequence[TracingPrimitive],
    results: Sequence[MeasurementResult],
    window: tuple[float, float] | None = None,
    instance_number: int = 1,
) -> GrayscaleSoftcopyPresentationState:
    """The presentation state of ``annotation`` over the image ``source`` (pixel data not needed)."""
    width, height = int(source.Columns), int(source.Rows)
    layers = {
        "LANDMARKS": GraphicLayer("LANDMARKS", 1, "Cephalometric landmarks", CIELabColor.from_string("yellow")),
        "TRACING": GraphicLayer("TRACING", 2, "Tracing lines of the analyses", CIELabColor.from_string("cyan")),
        "VALUES": GraphicLayer("VALUES", 3, "Measured values", CIELabColor.from_string("white")),
    }
    frames = [1] if int(source.get("NumberOfFrames", 1) or 1) > 1 else None
    landmark_graphics, landmark_texts = _landmark_objects(annotation, width, height)
    content = {
        "LANDMARKS": (landmark_graphics, landmark_texts),
        "TRACING": (_tracing_objects(tracings, width, height), []),
        "VALUES": ([], _value_texts(tracings, results, width, height)),
    }
    annotations = [
        GraphicAnnotation(referenced_images=[source], graphic_layer=layers[name], referenced_frame_number=frames,
                          graphic_objects=graphics or None, text_objects=texts or None)
        for name, (graphics, texts) in content.items() if graphics or texts
    ]
    photometric = str(source.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    shape = str(source.get("PresentationLUTShape", "") or "").upper()
    inverse = photometric == "MONOCHROME1" or shape == "INVERSE"
    pr = GrayscaleSoftcopyPresentationState(
        referenced_images=[source],
        series_instance_uid=hd.UID(),
        series_number=PR_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=instance_number,
        manufacturer="cephview",
        manufacturer_model_name="cephview",
        software_versions=__version__,
        device_serial_number="",
        content_label="CEPHALOMETRY",
        content_description="Cephalometric landmarks and tracing",
        graphic_annotations=annotations or None,
        graphic_layers=[layers[name] for name, (g, t) in content.items() if g or t] or None,
        voi_lut_transformations=_voi(source, window),
        presentation_lut_transformation=hd.PresentationLUTTransformation(
            presentation_lut_shape=hd.PresentationLUTShapeValues.INVERSE if inverse
            else hd.PresentationLUTShapeValues.IDENTITY),
    )
    pr.SeriesDescription = PR_SERIES_DESCRIPTION
    # Without Body Part Examined, validators ask for Laterality (General Series, Type 2C).
    pr.BodyPartExamined = str(source.get("BodyPartExamined", "") or "") or "HEAD"
    laterality = str(source.get("Laterality", "") or source.get("ImageLaterality", "") or "")
    if laterality in ("L", "R"):
        pr.Laterality = laterality
    elif pr.BodyPartExamined not in _UNPAIRED_BODY_PARTS:
        pr.Laterality = ""  # Type 2C for a paired part: present, empty when unknown
    return pr
