"""The printable report as a PDF, written with Qt's own PDF writer (QtGui only, no widgets).

Page 1 shows the radiograph with landmarks and the tracing of the chosen analyses; then come
the landmark table and the measurements against norms with deviation bars. The layout is
built first as a list of pages of drawing steps and painted afterwards, so every footer can
say "page n of N" and nothing is drawn past a page's bottom margin. A DRAFT watermark crosses
every page while any landmark is unreviewed. Patient identifiers appear only when the
:class:`ReportData` carries them (``include_patient``).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMarginsF, Qt
from PySide6.QtGui import QGuiApplication, QPageLayout, QPageSize, QPainter, QPdfWriter

from cephview.analysis.report_data import LandmarkRow, MeasurementRow, ReportData
from cephview.analysis.tracing import TracingPrimitive
from cephview.core.errors import CephviewError
from cephview.gui.report_draw import (
    STATUS_COLORS,
    TRACING_COLORS,
    Canvas,
    TextRecord,
    draw_deviation_bar,
    draw_radiograph,
    draw_watermark,
    fit_rect,
    font,
)

log = logging.getLogger(__name__)

PAGE_W, PAGE_H = 210.0, 297.0  # A4, mm
LEFT, RIGHT, TOP, BOTTOM = 15.0, 195.0, 14.0, 280.0  # content area; the footer sits below BOTTOM
DPI = 300
ROW_H = 5.2
LEGEND_LINE = 4.5
KEEP_TOGETHER = 45.0  # mm: measurement tables up to this height are not split across pages
LEGEND_PT = 7.5

GREY, RED = "#616161", "#c62828"
STATUS_WORDS = {"ai": "ai (not reviewed)", "accepted": "accepted", "corrected": "corrected",
                "manual": "placed by hand", "missing": "missing"}
ALIGN_R = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
ALIGN_C = Qt.AlignmentFlag.AlignCenter

Step = Callable[[Canvas], None]
BAR_TITLE = "SD bar"  # header cell drawn as the scale's -3 / 0 / +3 labels
# (title, width mm, alignment) of the table columns
LANDMARK_COLUMNS = (("Code", 14, None), ("Name", 58, None), ("x px", 18, ALIGN_R), ("y px", 18, ALIGN_R),
                    ("x mm", 17, ALIGN_R), ("y mm", 17, ALIGN_R), ("Conf.", 16, ALIGN_R), ("Status", 22, None))
MEAS_COLUMNS = (("Measurement", 29, None), ("Value", 19, ALIGN_R), ("Norm", 25, ALIGN_R), ("SD", 11, ALIGN_R),
                (BAR_TITLE, 38, ALIGN_C), ("Interpretation", 58, None))
BAR_INSET = 4.0  # room for the -3 / +3 labels over the bar's ends


@dataclass
class RenderedReport:
    """What was written: the file, its page count, and every text drawn (page, text, rect in mm)."""

    path: Path
    pages: int
    texts: list[TextRecord] = field(default_factory=list)
    draft: bool = False  # some landmark still unreviewed

    def text_on(self, page: int) -> str:
        return "\n".join(t.text for t in self.texts if t.page == page)


def ensure_gui_application() -> QGuiApplication:
    """The running Qt application, or a new QGuiApplication (offscreen when there is no display)."""
    app = QGuiApplication.instance()
    if app is not None:
        return app  # type: ignore[return-value]
    if not os.environ.get("QT_QPA_PLATFORM") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = QGuiApplication(["cephview"])
    globals()["_APP"] = app  # keep it alive for the process: Qt must not outlive its application
    return app


class _Flow:
    """Places blocks top to bottom, starting a new page when the next block would not fit."""

    def __init__(self) -> None:
        self.pages: list[list[Step]] = [[]]
        self.y = TOP

    def new_page(self) -> None:
        self.pages.append([])
        self.y = TOP

    def need(self, height: float, on_new_page: Callable[[], None] | None = None) -> None:
        if self.y + height > BOTTOM and self.y > TOP:
            self.new_page()
            if on_new_page:
                on_new_page()

    def add(self, step: Step) -> None:
        self.pages[-1].append(step)


def _fmt(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


class _ReportLayout:
    def __init__(self, data: ReportData, canvas: Canvas, display: np.ndarray,
                 points: Mapping[str, tuple[float, float]], tracings: Mapping[str, Sequence[TracingPrimitive]]) -> None:
        self.data, self.canvas, self.display = data, canvas, display
        self.points, self.tracings = points, tracings
        self.flow = _Flow()

    # ---- helpers
    def text_block(self, text: str, size: float, color: str = "#000000", bold: bool = False,
                   italic: bool = False, gap: float = 0.6) -> None:
        """Wrapped text over the content width, kept on one page."""
        f = font(size, bold, italic)
        _, h = self.canvas.measure(text, f, RIGHT - LEFT)
        self.flow.need(h)
        y = self.flow.y
        self.flow.add(lambda c: c.text(LEFT, y, RIGHT - LEFT, h, text, f, color, wrap=True,
                                       align=Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop))
        self.flow.y += h + gap

    def table_header(self, columns: Sequence[tuple[str, float, object]], continued: str = "") -> None:
        if continued:  # a table carried over to a new page says whose it is
            self.text_block(f"{continued} (continued)", 8, GREY, bold=True, gap=0.4)
        y, f = self.flow.y, font(7.5, bold=True)

        def draw(c: Canvas) -> None:
            c.rect(LEFT, y, RIGHT - LEFT, ROW_H, "#e0e0e0")
            x = LEFT
            for title, width, align in columns:
                if title == BAR_TITLE:  # labels over the bar's ends and centre
                    for label, at in (("-3", x + BAR_INSET), ("0", x + width / 2), ("+3", x + width - BAR_INSET)):
                        c.text(at - 4, y, 8, ROW_H, label, font(7, italic=True), GREY, align=ALIGN_C)
                else:
                    c.text(x + 1, y, width - 2, ROW_H, title, f,
                           align=align or Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
                x += width

        self.flow.add(draw)
        self.flow.y += ROW_H

    # ---- page 1
    def first_page(self) -> None:
        d, flow = self.data, self.flow
        y = flow.y
        flow.add(lambda c: c.text(LEFT, y, RIGHT - LEFT, 8, d.title, font(16, bold=True)))
        flow.add(lambda c: c.text(LEFT, y, RIGHT - LEFT, 8, d.created, font(8), GREY, ALIGN_R))
        flow.y += 9.5
        size = f" ({d.image_size[0]} x {d.image_size[1]} px)" if d.image_size else ""
        self.text_block(f"Image: {d.image_name}{size}    Landmark set: {d.schema}    "
                        f"Analyses: {', '.join(d.analyses) or 'none'}", 8.5)
        self.text_block(f"Calibration: {d.calibration_text}", 8.5)
        if d.patient:
            self.text_block("    ".join(f"{k}: {v}" for k, v in d.patient.items()), 8.5, bold=True)
        if d.cvm_stage:
            self.text_block(f"CVM stage (set by hand): {d.cvm_stage}", 8.5)
        total = len(d.landmarks)
        if d.draft:
            self.text_block(f"DRAFT: {total - d.reviewed_count} of {total} landmarks not yet reviewed. "
                            "Measurements marked * use unreviewed landmarks and are provisional.", 8.5, RED, bold=True)
        else:
            self.text_block(f"All {total} landmarks reviewed.", 8.5, "#2e7d32", bold=True)
        legend = self.legend_items()
        legend_h = (legend[-1][1] if legend else 0.0) + LEGEND_LINE + 1.5
        img_h, img_w = self.display.shape[:2]
        box = fit_rect(img_w, img_h, LEFT, flow.y + 1, RIGHT - LEFT, BOTTOM - flow.y - 1 - legend_h)
        statuses = {r.code: r.status for r in d.landmarks}
        flow.add(lambda c: draw_radiograph(c, self.display, box, self.points, statuses, self.tracings))
        flow.y = box[1] + box[3] + 1.5
        self.legend(flow.y, legend)
        flow.new_page()

    def legend_items(self) -> list[tuple[float, float, str, str, str]]:
        """(x, line offset, label, colour, kind) of every legend entry, wrapped to the content width."""
        entries = [(name, TRACING_COLORS[i % len(TRACING_COLORS)], "line")
                   for i, (name, prims) in enumerate(self.tracings.items()) if prims]
        used = {r.status for r in self.data.landmarks if r.placed}
        entries += [(STATUS_WORDS.get(s, s), STATUS_COLORS[s], "dot") for s in STATUS_COLORS if s in used]
        out, x, dy = [], LEFT, 0.0
        for label, color, kind in entries:
            w = (7 if kind == "line" else 3.4) + self.canvas.measure(label, font(LEGEND_PT))[0]
            if x + w > RIGHT and x > LEFT:
                x, dy = LEFT, dy + LEGEND_LINE
            out.append((x, dy, label, color, kind))
            x += w + 5
        return out

    def legend(self, y: float, items: list[tuple[float, float, str, str, str]]) -> None:
        def draw(c: Canvas) -> None:
            for x, dy, label, color, kind in items:
                if kind == "line":
                    c.rect(x, y + dy + 1.5, 6, 1.2, color, "#424242")
                else:
                    c.rect(x, y + dy + 0.9, 2.4, 2.4, color, "#424242")
                lx = x + (7 if kind == "line" else 3.4)
                w, _ = c.measure(label, font(LEGEND_PT))
                c.text(lx, y + dy, w + 1, 4, label, font(LEGEND_PT))

        self.flow.add(draw)

    # ---- landmarks
    def landmark_table(self) -> None:
        self.text_block("Landmarks", 12, bold=True, gap=1.2)
        self.table_header(LANDMARK_COLUMNS)
        for i, row in enumerate(self.data.landmarks):
            self.flow.need(ROW_H, lambda: self.table_header(LANDMARK_COLUMNS, "Landmarks"))
            self.flow.add(self._landmark_row(row, self.flow.y, i % 2 == 1))
            self.flow.y += ROW_H
        self.flow.y += 4

    def _landmark_row(self, row: LandmarkRow, y: float, shade: bool) -> Step:
        cells = [row.code, row.name, _fmt(row.x_px, 1), _fmt(row.y_px, 1), _fmt(row.x_mm, 1), _fmt(row.y_mm, 1),
                 _fmt(row.confidence, 2), row.status]
        f = font(7.5)

        def draw(c: Canvas) -> None:
            if shade:
                c.rect(LEFT, y, RIGHT - LEFT, ROW_H, "#f5f5f5")
            x = LEFT
            for col, ((_, width, align), cell) in enumerate(zip(LANDMARK_COLUMNS, cells)):
                if col == len(cells) - 1:  # status: a dot in the review window's colour
                    c.rect(x + 1, y + 1.4, 2.4, 2.4, STATUS_COLORS.get(row.status, "#ffffff"), "#424242")
                    c.text(x + 4.5, y, width - 5, ROW_H, cell, f, RED if cell == "ai" else "#000000")
                else:
                    c.text(x + 1, y, width - 2, ROW_H, cell, f, align=align or Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
                x += width

        return draw

    # ---- measurements
    def measurements(self) -> None:
        d = self.data
        self.flow.need(30)
        self.text_block("Measurements", 12, bold=True, gap=0.8)
        self.text_block(f"Norms: {d.norm_title}" + (f" ({d.norm_set})" if d.norm_set else ""), 8, GREY, gap=1.5)
        for section in d.sections:
            _, ref_h = self.canvas.measure(section.reference, font(7, italic=True), RIGHT - LEFT)
            heights = [self._meas_height(r) for r in section.rows]
            # a short table moves whole to the next page rather than leave one row behind;
            # a long one may break, but never after its heading alone
            keep = sum(heights) if sum(heights) <= KEEP_TOGETHER else sum(heights[:1])
            self.flow.need(6 + ref_h + ROW_H + keep)
            self.text_block(section.title, 10, bold=True, gap=0.2)
            self.text_block(section.reference, 7, GREY, italic=True, gap=1.0)
            if not section.rows:
                self.text_block("No measurements.", 8, GREY)
                continue
            self.table_header(MEAS_COLUMNS)
            for i, (row, h) in enumerate(zip(section.rows, heights)):
                self.flow.need(h, lambda t=section.title: self.table_header(MEAS_COLUMNS, t))
                self.flow.add(self._meas_row(row, self.flow.y, h, i % 2 == 1))
                self.flow.y += h
            self.flow.y += 3
        self.notes()

    def _meas_height(self, row: MeasurementRow) -> float:
        _, h = self.canvas.measure(row.interpretation, font(7.5), MEAS_COLUMNS[-1][1] - 2)
        return max(ROW_H, h + 1.4)

    def _meas_row(self, row: MeasurementRow, y: float, h: float, shade: bool) -> Step:
        provisional = row.provisional and row.value is not None
        value = row.value_text + (" *" if provisional else "")
        cells = [row.name, value, row.norm_text, row.deviation_text]
        f, fi = font(7.5), font(7.5, italic=True)
        color = GREY if row.value is None else "#000000"

        def draw(c: Canvas) -> None:
            if shade:
                c.rect(LEFT, y, RIGHT - LEFT, h, "#f5f5f5")
            x = LEFT
            for col, ((_, width, align), cell) in enumerate(zip(MEAS_COLUMNS[:4], cells)):
                c.text(x + 1, y, width - 2, h, cell, fi if provisional and col == 1 else f, color,
                       align=align or Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
                x += width
            bar_w = MEAS_COLUMNS[4][1]
            if row.value is not None and row.norm_sd is not None:
                draw_deviation_bar(c, x + BAR_INSET, y, bar_w - 2 * BAR_INSET, h, row.deviation_sd, provisional)
            elif row.value is not None and row.norm_mean is not None:
                c.text(x, y, bar_w, h, "range only", font(6.5, italic=True), GREY, ALIGN_C)
            x += bar_w
            c.text(x + 1, y, MEAS_COLUMNS[-1][1] - 2, h, row.interpretation, f, color, wrap=True)

        return draw

    def notes(self) -> None:
        d = self.data
        if d.any_provisional:
            self.text_block("* provisional: computed from landmarks that have not been reviewed (status ai).", 7.5)
        self.text_block("SD: deviation from the norm mean in standard deviations; the bar runs from -3 to +3 SD, "
                        "the green band is +-1 SD; a hollow marker is a provisional value, an arrow one beyond "
                        "3 SD. 'range only': the norm source gives a range but no SD.", 7.5, GREY, gap=1.5)
        if d.norm_population:
            self.text_block(f"Norm population: {d.norm_population}", 7, GREY)
        for short, full in d.norm_sources.items():
            self.text_block(f"{short}: {full}", 7, GREY, gap=0.3)

    # ---- all
    def build(self) -> list[list[Step]]:
        self.first_page()
        self.landmark_table()
        self.measurements()
        return [page for page in self.flow.pages if page]


def _footer(c: Canvas, data: ReportData, page: int, pages: int) -> None:
    f, y = font(7), BOTTOM + 4
    c.line(LEFT, y - 0.8, RIGHT, y - 0.8, "#9e9e9e", 0.15)
    model = data.model_version or "none (landmarks from a file)"
    c.text(LEFT, y, 150, 4, f"cephview {data.cephview_version}    model: {model}    created {data.created}    "
                            f"image {data.image_name}", f, GREY)
    c.text(RIGHT - 30, y, 30, 4, f"page {page} of {pages}", f, GREY, ALIGN_R)


def render_report_pdf(
    report_data: ReportData,
    display_image: np.ndarray,
    points: Mapping[str, tuple[float, float]],
    tracings: Mapping[str, Sequence[TracingPrimitive]] | Sequence[TracingPrimitive],
    out_path: str | Path,
) -> RenderedReport:
    """Write the report PDF.

    Parameters
    ----------
    report_data : ReportData
        From :func:`cephview.analysis.report_data.build_report_data`.
    display_image : ndarray
        2-D uint8 image as shown (``Radiograph.display`` or the viewer's window/level).
    points : mapping
        code -> (x, y) in image pixels (:func:`~cephview.analysis.report_data.report_points`).
    tracings : mapping or sequence
        analysis name -> primitives (:func:`~cephview.analysis.report_data.report_tracings`), or
        one list drawn in the first colour.
    out_path : str or Path
        The PDF to write; written to a temporary file first, so a failure leaves no half file.
    """
    if not isinstance(tracings, Mapping):
        tracings = {"tracing": list(tracings)}

    def finish_page(canvas: Canvas, page: int, pages: int) -> None:
        _footer(canvas, report_data, page, pages)
        if report_data.draft:
            draw_watermark(canvas, PAGE_W, PAGE_H)

    # the file's metadata: never patient identifiers
    return write_pdf(out_path, report_data.title, f"cephview {report_data.cephview_version}",
                     lambda canvas: _ReportLayout(report_data, canvas, display_image, points, tracings).build(),
                     finish_page, "report")


def write_pdf(out_path: str | Path, title: str, creator: str, layout: Callable[[Canvas], list],
              finish_page: Callable[[Canvas, int, int], None], what: str = "report") -> RenderedReport:
    """Lay out pages on an A4 canvas (``layout`` returns each page's drawing steps), paint them with
    ``finish_page(canvas, page, pages)`` after each, and put the PDF in place whole: written to a
    temporary file first, checked for its end, so a failure (a full disk) leaves no half file."""
    ensure_gui_application()
    out_path = Path(out_path)
    folder = out_path.parent
    # checked first: Qt would print its own warning before we could say what is wrong
    if not folder.is_dir():
        raise CephviewError(f"{out_path}: cannot write the PDF: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CephviewError(f"{out_path}: cannot write the PDF: the folder {folder} is not writable")
    # A new file of our own (O_EXCL, random name: never through a planted link, never another
    # run's), with the user's usual mode (0666 less the umask), as in csvio.atomic_csv_file.
    tmp = out_path.with_name(f".{out_path.name}.{secrets.token_hex(6)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        pages, texts = _write_pages(tmp, out_path, title, creator, layout, finish_page)
        # Qt reports no write error (a full disk, a size limit): a file cut short is caught here.
        if not _ends_a_pdf(tmp):
            raise CephviewError(f"{out_path}: the PDF could not be written completely (is the disk full?)")
        os.replace(tmp, out_path)
    except OSError as exc:
        raise CephviewError(f"{out_path}: the PDF could not be written ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)  # gone already after the replace; any failure leaves nothing behind
    log.info("wrote %d-page %s to %s", len(pages), what, out_path)
    return RenderedReport(out_path, len(pages), texts)


def _ends_a_pdf(path: Path) -> bool:
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - 1024))
        return size > 0 and f.read().rstrip().endswith(b"%%EOF")


def _write_pages(tmp: Path, out_path: Path, title: str, creator: str, layout: Callable[[Canvas], list],
                 finish_page: Callable[[Canvas, int, int], None]) -> tuple[list, list]:
    """Lay out and paint every page into ``tmp``; returns (pages, texts drawn)."""
    writer = QPdfWriter(str(tmp))
    writer.setResolution(DPI)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(0, 0, 0, 0)))
    writer.setTitle(title)
    writer.setCreator(creator)
    canvas = Canvas(writer, DPI)
    pages = layout(canvas)
    painter = QPainter()
    if not painter.begin(writer):
        raise CephviewError(f"{out_path}: cannot write a PDF there (is the folder writable?)")
    canvas.painter = painter
    try:
        for i, steps in enumerate(pages):
            if i:
                writer.newPage()
            canvas.page = i + 1
            for step in steps:
                step(canvas)
            finish_page(canvas, i + 1, len(pages))
    finally:
        painter.end()
    del writer  # flushes and closes the file
    return pages, canvas.texts


def write_report_pdf(
    annotation, radiograph, out_path: str | Path, *, analyses: Sequence[str] | None = None,
    norm_set="adult_classic", include_patient: bool = False, display_image: np.ndarray | None = None,
) -> RenderedReport:
    """One image's report, as ``cephview report`` and the window's File > Export report write it.

    ``display_image`` is the image as shown (the window's window/level); the file's own display
    by default. Patient identifiers only with ``include_patient``.
    """
    from cephview.analysis.report_data import DEFAULT_ANALYSES, build_report_data, report_points, report_tracings

    analyses = DEFAULT_ANALYSES if analyses is None else analyses
    data = build_report_data(
        annotation, analyses=analyses, norm_set=norm_set, image_size=(radiograph.width, radiograph.height),
        patient=radiograph.patient, include_patient=include_patient,
    )
    ensure_gui_application()
    shown = radiograph.display if display_image is None else display_image
    rendered = render_report_pdf(data, shown, report_points(annotation), report_tracings(annotation, analyses or ()),
                                 out_path)
    rendered.draft = data.draft
    return rendered
