"""The Spend tab: the balance over the last 30 days and the spend per day by provider.

It draws a :class:`~vendo_tray.core.spend.SpendHistory` and decides nothing:
sums, days and words come from ``core.spend`` and ``core.display``.  Painted
with QPainter rather than QtCharts: QtCharts would add PySide6-Addons to the
dependencies and about 4 MB of libraries and a few MB of memory to the bundle
for two simple charts (the figures are in docs/performance.md).

The window imports this module the first time the tab is shown, so a session
that never looks at spend never loads it.

Hovering (or the arrow keys) picks a day; its figures appear in a callout
painted in the chart, as plain text: provider names come from the server and
must never be read as rich text.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFocusEvent,
    QFontMetrics,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from vendo_tray.core.display import day_spend_lines
from vendo_tray.core.kinds import format_micros
from vendo_tray.core.spend import SpendHistory

#: What the empty tab promises (it must say what will appear, not just "no data").
EMPTY_TEXT = ("Nothing spent yet in the last 30 days.\n\nAs Vendo reports usage and balance changes, "
              "this tab shows your balance over time as a line and what each provider cost per day "
              "as stacked bars.")

#: Provider colours, biggest spender first; distinct on light and dark themes.
PROVIDER_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#eeca3b",
                   "#9d755d", "#bab0ac", "#ff9da6")
BALANCE_COLOR = "#2e9d57"
#: Dates under the bars are written every this many days.
DATE_EVERY = 5


def provider_color(index: int) -> QColor:
    return QColor(PROVIDER_COLORS[index % len(PROVIDER_COLORS)])


def nice_ceiling(micros: int) -> int:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ micro-dollars at or above ``micros`` (an axis top)."""
    if micros <= 0:
        return 1_000_000
    step = 1
    while True:
        for factor in (1, 2, 2.5, 5):
            if step * factor >= micros:
                return int(step * factor)
        step *= 10


class SpendChart(QWidget):
    """The two charts over one shared time axis, a legend, and the hover callout."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history: SpendHistory | None = None
        #: The day under the pointer (an index into ``history.days``), or None.
        self.hover: int | None = None
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Spend chart")
        self.setMinimumSize(420, 300)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(900, 480)

    def set_history(self, history: SpendHistory) -> None:
        self.history = history
        if self.hover is not None and self.hover >= len(history.days):
            self.hover = None
        self.setAccessibleDescription(" · ".join(self.callout_lines() or [f"{len(history.days)} days"]))
        self.update()

    def callout_lines(self) -> list[str]:
        """The hovered day's figures (what the callout shows), or nothing."""
        if self.history is None or self.hover is None:
            return []
        day = self.history.days[self.hover]
        end = datetime.combine(day.day + timedelta(days=1), datetime.min.time(), tzinfo=self.history.start.tzinfo)
        return day_spend_lines(day, self.history.balance_at(min(end, self.history.end)))

    # ------------------------------------------------------------------ geometry
    def _plot(self) -> tuple[QRectF, QRectF, QRectF]:
        """(balance pane, bars pane, legend row) inside the widget."""
        fm = self.fontMetrics()
        line = fm.height()
        left = fm.horizontalAdvance("$00,000.00") + 14
        area = QRectF(self.rect()).adjusted(left, line * 1.6, -12, -(line * 3.4))
        balance_height = area.height() * 0.38
        top = QRectF(area.left(), area.top(), area.width(), balance_height)
        bars = QRectF(area.left(), top.bottom() + line * 2.2, area.width(), area.bottom() - top.bottom() - line * 2.2)
        legend = QRectF(area.left(), self.height() - line * 1.6, area.width(), line * 1.4)
        return top, bars, legend

    def _day_at(self, x: float) -> int | None:
        if self.history is None or not self.history.days:
            return None
        _, bars, _ = self._plot()
        if not bars.left() <= x <= bars.right():
            return None
        return min(len(self.history.days) - 1, int((x - bars.left()) / bars.width() * len(self.history.days)))

    # ------------------------------------------------------------------ painting
    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        history = self.history
        if history is None or history.empty:
            self._paint_empty(painter)
        else:
            top, bars, legend = self._plot()
            self._paint_balance(painter, history, top)
            self._paint_bars(painter, history, bars)
            self._paint_legend(painter, history, legend)
            self._paint_callout(painter, top, bars)
        painter.end()

    def _muted(self) -> QColor:
        return self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)

    def _paint_empty(self, painter: QPainter) -> None:
        painter.setPen(self._muted())
        box = QRectF(self.rect()).adjusted(40, 40, -40, -40)
        painter.drawText(box, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), EMPTY_TEXT)

    def _title(self, painter: QPainter, rect: QRectF, text: str) -> None:
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        font = painter.font()
        font.setBold(True)
        painter.save()
        painter.setFont(font)
        painter.drawText(QPointF(rect.left(), rect.top() - self.fontMetrics().descent() - 6), text)
        painter.restore()

    def _axis(self, painter: QPainter, rect: QRectF, top_micros: int) -> None:
        """Three gridlines (0, half, top) with their amounts on the left."""
        fm = self.fontMetrics()
        for share in (0.0, 0.5, 1.0):
            y = rect.bottom() - rect.height() * share
            painter.setPen(QPen(self._muted(), 0.6, Qt.PenStyle.DotLine if share else Qt.PenStyle.SolidLine))
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            label = format_micros(round(top_micros * share))
            painter.setPen(self._muted())
            painter.drawText(QPointF(rect.left() - fm.horizontalAdvance(label) - 8, y + fm.ascent() / 2 - 1), label)

    def _x(self, history: SpendHistory, rect: QRectF, when: datetime) -> float:
        span = (timedelta(days=len(history.days)) or timedelta(days=1))
        return rect.left() + rect.width() * ((when - history.start) / span)

    def _paint_balance(self, painter: QPainter, history: SpendHistory, rect: QRectF) -> None:
        self._title(painter, rect, "Balance")
        points = history.balance
        top = nice_ceiling(max((p.micros for p in points), default=0))
        self._axis(painter, rect, top)
        if not points:
            painter.setPen(self._muted())
            painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), "No balance reported in these 30 days")
            return

        def y(micros: int) -> float:
            return rect.bottom() - rect.height() * max(0, micros) / top

        # A balance holds until the next reading: a step line, not a slope that invents values.
        path = QPainterPath(QPointF(self._x(history, rect, points[0].at), y(points[0].micros)))
        for before, point in zip(points, points[1:]):
            x = self._x(history, rect, point.at)
            path.lineTo(x, y(before.micros))
            path.lineTo(x, y(point.micros))
        path.lineTo(self._x(history, rect, history.end), y(points[-1].micros))
        area = QPainterPath(path)
        area.lineTo(self._x(history, rect, history.end), rect.bottom())
        area.lineTo(self._x(history, rect, points[0].at), rect.bottom())
        area.closeSubpath()
        fill = QColor(BALANCE_COLOR)
        fill.setAlpha(40)
        painter.fillPath(area, fill)
        painter.setPen(QPen(QColor(BALANCE_COLOR), 2))
        painter.drawPath(path)

    def _paint_bars(self, painter: QPainter, history: SpendHistory, rect: QRectF) -> None:
        self._title(painter, rect, "Spend per day")
        top = nice_ceiling(max((d.total for d in history.days), default=0))
        self._axis(painter, rect, top)
        width = rect.width() / len(history.days)
        colors = {p: provider_color(i) for i, p in enumerate(history.providers)}
        fm = self.fontMetrics()
        for index, day in enumerate(history.days):
            x = rect.left() + index * width
            if index == self.hover:
                painter.fillRect(QRectF(x, rect.top(), width, rect.height()), self._hover_color())
            bottom = rect.bottom()
            for provider, micros in day.by_provider:
                height = rect.height() * micros / top
                painter.fillRect(QRectF(x + width * 0.15, bottom - height, width * 0.7, height), colors[provider])
                bottom -= height
            if (len(history.days) - 1 - index) % DATE_EVERY == 0:
                label = f"{day.day.day} {day.day:%b}"
                painter.setPen(self._muted())
                painter.drawText(QPointF(x + width / 2 - fm.horizontalAdvance(label) / 2,
                                         rect.bottom() + fm.ascent() + 4), label)

    def _hover_color(self) -> QColor:
        color = self.palette().color(QPalette.ColorRole.Highlight)
        color.setAlpha(45)
        return color

    def _paint_legend(self, painter: QPainter, history: SpendHistory, rect: QRectF) -> None:
        fm = self.fontMetrics()
        x = rect.left()
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        for index, provider in enumerate(history.providers):
            name = fm.elidedText(provider, Qt.TextElideMode.ElideRight, 160)
            needed = fm.height() * 0.8 + 6 + fm.horizontalAdvance(name) + 18
            if x + needed > rect.right():
                painter.drawText(QPointF(x, rect.top() + fm.ascent()), f"+{len(history.providers) - index} more")
                break
            swatch = QRectF(x, rect.top() + (fm.height() - fm.height() * 0.8) / 2, fm.height() * 0.8, fm.height() * 0.8)
            painter.fillRect(swatch, provider_color(index))
            painter.drawText(QPointF(swatch.right() + 6, rect.top() + fm.ascent()), name)
            x += needed

    def _paint_callout(self, painter: QPainter, top: QRectF, bars: QRectF) -> None:
        lines = self.callout_lines()
        if not lines or self.history is None or self.hover is None:
            return
        width = bars.width() / len(self.history.days)
        painter.fillRect(QRectF(bars.left() + self.hover * width, top.top(), width, top.height()),
                         self._hover_color())
        fm = QFontMetrics(self.font())
        box = QRectF(0, 0, max(fm.horizontalAdvance(t) for t in lines) + 20, fm.height() * len(lines) + 14)
        anchor = bars.left() + (self.hover + 1) * width + 8
        if anchor + box.width() > self.width() - 4:  # keep it inside: flip to the left of the day
            anchor = bars.left() + self.hover * width - box.width() - 8
        box.moveTo(max(4.0, anchor), top.top() + 4)
        painter.setPen(QPen(self._muted(), 1))
        painter.setBrush(self.palette().color(QPalette.ColorRole.ToolTipBase))
        painter.drawRoundedRect(box, 6, 6)
        painter.setPen(self.palette().color(QPalette.ColorRole.ToolTipText))
        for n, text in enumerate(lines):
            painter.drawText(QPointF(box.left() + 10, box.top() + 7 + fm.ascent() + n * fm.height()), text)

    # ------------------------------------------------------------------ hover
    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._set_hover(self._day_at(event.position().x()))

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        self._set_hover(None)
        super().leaveEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        """Left/Right walk the days (the callout without a mouse); Home/End jump."""
        count = len(self.history.days) if self.history is not None else 0
        key = event.key()
        moves = {Qt.Key.Key_Left.value: -1, Qt.Key.Key_Right.value: 1}
        if count and key in moves:
            current = self.hover if self.hover is not None else count
            self._set_hover(max(0, min(count - 1, current + moves[key])))
        elif count and key in (Qt.Key.Key_Home.value, Qt.Key.Key_End.value):
            self._set_hover(0 if key == Qt.Key.Key_Home.value else count - 1)
        else:
            super().keyPressEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802 - Qt override
        if not self.underMouse():
            self._set_hover(None)
        super().focusOutEvent(event)

    def _set_hover(self, index: int | None) -> None:
        if index != self.hover:
            self.hover = index
            if self.history is not None:
                self.setAccessibleDescription(" · ".join(self.callout_lines()))
            self.update()


class SpendView(QWidget):
    """The tab: one summary line over the chart."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        column = QVBoxLayout(self)
        column.setContentsMargins(8, 8, 8, 8)
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setEnabled(False)
        column.addWidget(self.summary)
        self.chart = SpendChart()
        column.addWidget(self.chart, 1)

    def set_history(self, history: SpendHistory, runway_line: str) -> None:
        """Draw ``history``; ``runway_line`` is the header's "$7.86 · about 3 days left …"."""
        self.chart.set_history(history)
        spent = f"Last {len(history.days)} days: {format_micros(history.total)} spent"
        self.summary.setText(f"{spent} · balance {runway_line}" if runway_line else spent)
