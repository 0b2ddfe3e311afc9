"""Tray and app icons, rendered from the SVG sources at every size a panel asks for.

WHY render per size instead of letting Qt scale one bitmap: a 16 px tray
icon scaled down from 64 px turns thin strokes to mush.  QSvgRenderer draws
each size from vectors, and the sources use thick strokes and a filled disc
with a subtle dark outline so they read on light and dark panels alike.

The attention icon gets a count badge painted on at runtime (a red dot with
the number), which no static file could provide.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPen, QPixmap
from PySide6.QtSvg import QSvgRenderer

from vendo_tray import resources
from vendo_tray.core.state import AppState, Phase
from vendo_tray.resources import APP_ICON

#: Sizes panels actually use (16 classic, 22/24 GNOME/KDE, 32/48/64 HiDPI).
SIZES = (16, 22, 24, 32, 48, 64)
#: Qt.GlobalColor.transparent. WHY not ``Qt``: PySide6 builds the whole ``Qt`` namespace
#: (about 1,200 enum members) on first use, about 20 ms and 1.3 MB, which a live idle tray
#: otherwise never pays (ui.qloop's timers avoid it too); the badge imports it when first drawn.
TRANSPARENT = QColor(0, 0, 0, 0)


class TrayIconName(StrEnum):
    """One icon per tray state; the file is ``vendo-tray-<value>.svg``.

    The prefix keeps the names unique once installed into an icon theme
    (hicolor/…/apps/vendo-tray-live.png), where plain "live" would collide.
    """

    CONNECTING = "connecting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"
    KEY = "key"
    ATTENTION = "attention"
    PAUSED = "paused"


def icons_dir() -> Path:
    return Path(resources.path("icons"))


def svg_path(name: str) -> Path:
    stem = name if name == APP_ICON else f"{APP_ICON}-{name}"
    return icons_dir() / f"{stem}.svg"


def icon_name_for(state: AppState) -> TrayIconName:
    """Which icon shows ``state``: the most urgent thing first.

    A key problem beats everything (nothing works without it), then the
    connection's health (a stale list is worse than a known one), then what
    the user asked for (paused), then connections needing action.
    """
    phase = state.phase
    if phase in (Phase.KEY_MISSING, Phase.KEY_REJECTED):
        return TrayIconName.KEY
    if phase is Phase.OFFLINE:
        return TrayIconName.OFFLINE
    if phase is Phase.RECONNECTING:
        return TrayIconName.RECONNECTING
    if phase is Phase.CONNECTING:
        return TrayIconName.CONNECTING
    if state.paused:
        return TrayIconName.PAUSED
    if state.attention > 0:
        return TrayIconName.ATTENTION
    return TrayIconName.LIVE


@lru_cache(maxsize=None)
def _renderer(name: str) -> QSvgRenderer:
    data = svg_path(name).read_bytes()
    renderer = QSvgRenderer(QByteArray(data))
    if not renderer.isValid():
        raise ValueError(f"icon {name!r} is not a valid SVG")
    return renderer


def render_pixmap(name: str, size: int, badge: int = 0, dpr: float = 1.0) -> QPixmap:
    """Draw icon ``name`` at ``size`` logical pixels, with an optional count badge."""
    device = max(1, round(size * dpr))
    pixmap = QPixmap(device, device)
    pixmap.fill(TRANSPARENT)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    _renderer(name).render(painter, QRectF(0, 0, device, device))
    if badge > 0:
        _paint_badge(painter, device, badge)
    painter.end()
    pixmap.setDevicePixelRatio(dpr)
    return pixmap


def _paint_badge(painter: QPainter, size: int, count: int) -> None:
    """A red disc with a white number in the top-right corner.

    Small panels get a bigger badge (relative to the icon) and "+" instead of
    "9+", because two digits cannot be read in 8 device pixels.
    """
    from PySide6.QtCore import Qt  # see TRANSPARENT

    small = size < 28
    if count < 10:
        text = str(count)
    else:
        text = "+" if small else "9+"
    diameter = size * (0.68 if small else 0.56 if len(text) == 1 else 0.62)
    rect = QRectF(size - diameter, 0, diameter, diameter)
    painter.setPen(QPen(QColor("#FFFFFF"), max(1.0, size / 32)))
    painter.setBrush(QColor("#C81E1E"))
    painter.drawEllipse(rect.adjusted(0.5, 0.5, -0.5, -0.5))
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(7, round(diameter * (0.78 if len(text) == 1 else 0.55))))
    painter.setFont(font)
    painter.setPen(QColor("#FFFFFF"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


_icon_cache: dict[tuple[str, int], QIcon] = {}


def tray_icon(name: str, badge: int = 0) -> QIcon:
    """A QIcon holding a crisp pixmap for every size in :data:`SIZES`."""
    badge = min(badge, 10)  # "9+" covers everything above nine; bound the cache
    key = (name, badge)
    icon = _icon_cache.get(key)
    if icon is None:
        icon = QIcon()
        for size in SIZES:
            icon.addPixmap(render_pixmap(name, size, badge))
        _icon_cache[key] = icon
    return icon


def icon_for_state(state: AppState) -> QIcon:
    name = icon_name_for(state)
    badge = state.attention if name is TrayIconName.ATTENTION else 0
    return tray_icon(name, badge)


def app_icon() -> QIcon:
    return tray_icon(APP_ICON)


#: The notification icon's size: what notification servers show beside the text.
NOTIFICATION_ICON_PX = 64


def notification_png(cache_dir: Path) -> Path:
    """The app icon as a PNG in ``cache_dir``, named by a digest of its SVG source.

    WHY the digest: the file outlives the app; named by version or not at all, an
    upgrade with a new icon would keep showing the old one in every notification.
    Older renderings are removed when a new one is written.  Raises OSError.
    """
    import hashlib

    digest = hashlib.sha256(svg_path("vendo-tray").read_bytes()).hexdigest()[:12]
    path = cache_dir / f"vendo-tray-{NOTIFICATION_ICON_PX}-{digest}.png"
    if path.exists():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    for old in cache_dir.glob("vendo-tray-*.png"):
        old.unlink(missing_ok=True)
    tmp = path.with_suffix(".tmp.png")
    if not render_pixmap("vendo-tray", NOTIFICATION_ICON_PX).save(str(tmp), "PNG"):
        raise OSError(f"Qt could not write {tmp}")
    tmp.replace(path)  # a crash mid-write never leaves a half PNG under the final name
    return path
