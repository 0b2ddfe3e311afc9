"""Colours for severities and brands, and the small dots the lists draw with them.

The decisions (how bad is this?) live in ``core.display``; this module only
maps a :class:`Severity` to a colour that reads on light and dark themes, and
turns a colour into a cached 10 px dot icon.
"""

from __future__ import annotations

import re
from functools import lru_cache

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

from vendo_tray.core.kinds import Severity

#: Mid-tone colours: legible as text and as dots on both light and dark backgrounds.
SEVERITY_COLORS: dict[Severity, str] = {
    Severity.OK: "#2e9d57",
    Severity.INFO: "#7d8796",
    Severity.WARNING: "#d08a00",
    Severity.CRITICAL: "#d64545",
}

#: Only plain ``#rgb``/``#rrggbb`` brand colours are used: the value comes from
#: the server and QColor would otherwise accept names, ``#aarrggbb`` and more.
_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")

DOT_SIZE = 10


def severity_color(severity: Severity) -> QColor:
    return QColor(SEVERITY_COLORS.get(severity, SEVERITY_COLORS[Severity.INFO]))


def brand_color(value: str | None) -> QColor | None:
    """A connection's brand colour when it is a plain hex colour, else None."""
    if not value or not _HEX_COLOR.fullmatch(value.strip()):
        return None
    return QColor(value.strip())


@lru_cache(maxsize=256)
def dot_icon(color: str, size: int = DOT_SIZE) -> QIcon:
    """A filled circle with a faint darker rim (so pale brand colours still show)."""
    scale = 2  # drawn at 2x so it stays crisp on HiDPI screens
    pixmap = QPixmap(size * scale, size * scale)
    pixmap.setDevicePixelRatio(scale)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    fill = QColor(color)
    painter.setBrush(fill)
    painter.setPen(fill.darker(140))
    painter.drawEllipse(QRectF(1, 1, size - 2, size - 2))
    painter.end()
    return QIcon(pixmap)


def severity_dot(severity: Severity) -> QIcon:
    return dot_icon(SEVERITY_COLORS.get(severity, SEVERITY_COLORS[Severity.INFO]))
