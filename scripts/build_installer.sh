#!/usr/bin/env bash
# Build the one-folder desktop app from a clone, without touching any other Python environment:
#   scripts/build_installer.sh
# leaves dist/cephview/ (run dist/cephview/cephview) and dist/cephview-<version>-linux-x86_64.tar.gz.
#
# The build environment (build/venv-installer) gets CPU-only PyTorch and no torchvision: the CUDA
# build would carry several GB of nvidia-* libraries, and the torchvision wheels on PyPI are built
# against that CUDA build. The shipped model (EfficientNet-Lite0) needs neither; the ResNet-18
# encoder option says it needs torchvision.
#
# Environment:
#   PYTHON                 interpreter for the build environment (default python3; 3.10 or later)
#   CEPHVIEW_TORCH         the torch requirement (default torch==2.13.0+cpu)
#   CEPHVIEW_TORCH_INDEX   extra index holding it (default https://download.pytorch.org/whl/cpu);
#                          empty: only pip's own configuration (a local wheel folder, a mirror)
#   CEPHVIEW_BUILD_VENV    the build environment's folder (default build/venv-installer)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
PYTHON="${PYTHON:-python3}"
TORCH_REQ="${CEPHVIEW_TORCH:-torch==2.13.0+cpu}"
TORCH_INDEX="${CEPHVIEW_TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
VENV="${CEPHVIEW_BUILD_VENV:-build/venv-installer}"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' cephview/__init__.py)"
ARCHIVE="dist/cephview-${VERSION}-linux-x86_64.tar.gz"
start=$(date +%s)
stamp() { echo "[build_installer $(( $(date +%s) - start )) s] $*"; }

if [ ! -x "$VENV/bin/python" ]; then
    stamp "creating the build environment $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install -q)

stamp "installing $TORCH_REQ"
if [ -n "$TORCH_INDEX" ]; then
    "${PIP[@]}" "$TORCH_REQ" --extra-index-url "$TORCH_INDEX"
else
    "${PIP[@]}" "$TORCH_REQ"
fi

# The runtime dependencies of pyproject.toml except torch and torchvision, and PyInstaller.
mapfile -t DEPS < <("$VENV/bin/python" - <<'EOF'
import re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
for dep in deps:
    name = re.match(r"[A-Za-z0-9_.-]+", dep).group(0).lower()
    if name not in ("torch", "torchvision"):
        print(dep)
EOF
)
stamp "installing ${DEPS[*]} pyinstaller"
"${PIP[@]}" "${DEPS[@]}" "pyinstaller>=6.10"

# Refuse a build environment that would make a CUDA-sized bundle or carry a torchvision that
# cannot load beside the CPU torch.
"$VENV/bin/python" - <<'EOF'
import importlib.metadata as md, importlib.util, sys
import torch
names = {d.metadata["Name"].lower() for d in md.distributions()}
problems = []
if torch.version.cuda:
    problems.append(f"torch {torch.__version__} is a CUDA build")
if importlib.util.find_spec("torchvision"):
    problems.append("torchvision is installed")
problems += [f"{n} is installed" for n in sorted(names) if n.startswith("nvidia-")]
if problems:
    sys.exit("build environment: " + "; ".join(problems) + " (remove it, or delete the environment)")
print(f"torch {torch.__version__} (CPU only), no torchvision")
EOF

stamp "running PyInstaller"
rm -rf dist/cephview "$ARCHIVE"
nice -n "${NICE:-10}" "$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller build_installer.spec
install -m 755 scripts/install_desktop_entry.sh dist/cephview/install-desktop-entry.sh

# PyInstaller copies the X11 libraries Qt's xcb plugin needs from this machine; those it could not
# find would have to be on every clinic desktop instead.
INTERNAL=dist/cephview/_internal
missing="$(LD_LIBRARY_PATH="$INTERNAL:$INTERNAL/PySide6/Qt/lib" ldd "$INTERNAL/PySide6/Qt/plugins/platforms/libqxcb.so" \
    | awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')"
if [ -n "$missing" ]; then
    echo "warning: not bundled (not installed here): $missing- install them before building" \
         "(Debian/Ubuntu: libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 ...)" >&2
fi

stamp "writing $ARCHIVE"
nice -n "${NICE:-10}" tar -C dist -czf "$ARCHIVE" cephview
stamp "done"
echo "app:     $(du -sh dist/cephview | cut -f1)  dist/cephview/cephview"
echo "archive: $(du -sh "$ARCHIVE" | cut -f1)  $ARCHIVE"
