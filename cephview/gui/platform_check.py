"""Before the window opens on Linux/X11: are the system libraries Qt's xcb platform needs there?

Qt aborts the whole process (exit 134) when its xcb plugin cannot load, with a message that names
one library (often the wrong one). This check loads each library the plugin links against, the
way the dynamic loader will, and names the Debian/Ubuntu packages that provide the missing ones,
so the user gets one line that says what to install. No Qt is imported here.
"""

from __future__ import annotations

import ctypes
import os
import sys

# soname -> Debian/Ubuntu package, from `ldd` of PySide6's libqxcb.so, libQt6XcbQpa and libQt6Gui.
XCB_LIBRARIES = {
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
}


def uses_xcb(environ=os.environ, platform: str = sys.platform) -> bool:
    """Whether Qt will start on X11: Linux, no other platform asked for, not a Wayland session."""
    if not platform.startswith("linux"):
        return False
    asked = environ.get("QT_QPA_PLATFORM", "").strip()
    if asked:
        return asked.split(";")[0].split(":")[0] == "xcb"
    return not environ.get("WAYLAND_DISPLAY")


def missing_packages(libraries: dict[str, str] | None = None) -> list[str]:
    """Packages whose library cannot be loaded, in the table's order (none missing: empty)."""
    missing = []
    for soname, package in (XCB_LIBRARIES if libraries is None else libraries).items():
        try:
            ctypes.CDLL(soname)
        except OSError:
            if package not in missing:
                missing.append(package)
    return missing


def xcb_problem(environ=os.environ) -> str | None:
    """One line naming what to install, or None when the window can start."""
    if not uses_xcb(environ):
        return None
    if not environ.get("DISPLAY"):
        return ("the window cannot open: no X display ($DISPLAY is not set); run it in a desktop session, "
                "or use the command line (cephview --help)")
    missing = missing_packages()
    if not missing:
        return None
    return ("the window cannot open: Qt's X11 (xcb) platform needs system packages that are missing: "
            f"{' '.join(missing)} (Debian/Ubuntu: sudo apt-get install {' '.join(missing)})")
