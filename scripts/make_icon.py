"""Draw the application icon: resources/icons/cephview.svg and its 256 px PNG rendering.

A lateral head profile facing right with three landmark dots (S, N, A) and the S-N line, white on
a dark blue rounded square. Run it again after changing the drawing and commit both files:

    QT_QPA_PLATFORM=offscreen python scripts/make_icon.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"

SVG = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">
  <rect x="8" y="8" width="240" height="240" rx="44" fill="#1d3557"/>
  <!-- skull and facial profile, facing right -->
  <path d="M 70 196 C 48 160 44 104 74 72 C 104 40 160 36 186 60
           C 196 70 198 84 194 96 L 202 116 L 192 122 C 196 132 196 142 190 150
           C 198 156 198 166 188 172 C 186 184 176 194 160 196 L 150 214"
        fill="none" stroke="#f1faee" stroke-width="10" stroke-linecap="round" stroke-linejoin="round"/>
  <!-- S-N line and landmarks: sella, nasion, A point -->
  <line x1="110" y1="104" x2="188" y2="84" stroke="#a8dadc" stroke-width="5" stroke-linecap="round"/>
  <circle cx="110" cy="104" r="11" fill="#e63946"/>
  <circle cx="188" cy="84" r="11" fill="#e63946"/>
  <circle cx="184" cy="146" r="11" fill="#e63946"/>
</svg>
"""


def main() -> int:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - QPainter needs it
    ICONS.mkdir(parents=True, exist_ok=True)
    svg_path = ICONS / "cephview.svg"
    svg_path.write_text(SVG, encoding="utf-8")
    renderer = QSvgRenderer(str(svg_path))
    if not renderer.isValid():
        raise SystemExit(f"{svg_path}: Qt cannot read the drawing")
    image = QImage(256, 256, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    png_path = ICONS / "cephview.png"
    if not image.save(str(png_path)):
        raise SystemExit(f"{png_path}: cannot write")
    print(f"wrote {svg_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
