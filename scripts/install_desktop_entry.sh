#!/usr/bin/env sh
# Add cephview to this user's application menu (copied beside the app as install-desktop-entry.sh):
#   ./install-desktop-entry.sh            from the unpacked dist/cephview folder
# Writes ~/.local/share/applications/cephview.desktop (Exec pointing at this folder's cephview) and
# the icon into ~/.local/share/icons/hicolor. Remove those two files to undo it.
set -eu
APP_DIR="$(cd "$(dirname "$0")" && pwd)"
RES="$APP_DIR/_internal/cephview/resources"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
[ -x "$APP_DIR/cephview" ] || { echo "install-desktop-entry: $APP_DIR/cephview: not found" >&2; exit 2; }
mkdir -p "$DATA/applications" "$DATA/icons/hicolor/256x256/apps" "$DATA/icons/hicolor/scalable/apps"
cp "$RES/icons/cephview.png" "$DATA/icons/hicolor/256x256/apps/cephview.png"
cp "$RES/icons/cephview.svg" "$DATA/icons/hicolor/scalable/apps/cephview.svg"
sed "s|^Exec=cephview|Exec=\"$APP_DIR/cephview\"|" "$RES/cephview.desktop" > "$DATA/applications/cephview.desktop"
echo "installed $DATA/applications/cephview.desktop"
