"""About -> "Open-source licenses": every bundled part, its license and the full text.

A list on the left (ours first, then Qt, Python and each library, as the build found
them), the selected part's notice and license text on the right. Reading the notices
is core's job (core.licenses); this only shows them.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from vendo_tray import APP_NAME
from vendo_tray.core.licenses import License, Notices

FROM_SOURCE_TEXT = (f"{APP_NAME} runs from source here: the list of third-party licenses is generated "
                    "when the app is bundled (python3 build.py bundle). Each library's license is in its "
                    "installed package meanwhile.")


class LicensesDialog(QDialog):
    """Read-only viewer of :class:`Notices`; ``parts`` lists what it shows, in order."""

    def __init__(self, notices: Notices, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{APP_NAME} — open-source licenses")
        self.resize(820, 560)
        self.parts: list[License] = [p for p in (notices.ours, *notices.third_party) if p is not None]
        count = len(notices.third_party)
        header = QLabel(FROM_SOURCE_TEXT if not self.parts else
                        f"{APP_NAME} is {notices.ours.license if notices.ours else 'open source'}-licensed "
                        f"and includes {count} third-party part{'s' if count != 1 else ''}.")
        header.setWordWrap(True)
        self.list = QListWidget()
        for part in self.parts:
            item = QListWidgetItem(f"{part.title} — {part.license}")
            item.setToolTip(part.url)
            self.list.addItem(item)
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.list.currentRowChanged.connect(self._show)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.list)
        splitter.addWidget(self.text)
        splitter.setSizes([280, 540])
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(header)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)
        splitter.setVisible(bool(self.parts))
        if self.parts:
            self.list.setCurrentRow(0)

    def titles(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def _show(self, row: int) -> None:
        if 0 <= row < len(self.parts):
            part = self.parts[row]
            head = "\n".join(line for line in (f"{part.title} — {part.license}", part.url) if line)
            self.text.setPlainText("\n\n".join(s for s in (head, part.notice, part.text) if s))
