"""Print, as JSON, what Qt answers through ICU: run by tests/test_icu_data.py in a child process.

Run once against the wheel's ICU data and once with ``LD_LIBRARY_PATH`` naming a folder
that holds the bundle's trimmed ``libicudata.so.NN`` (the loader looks there before Qt's
RUNPATH), so the two answers can be compared. Covers every way Qt Core calls ICU:
collation, locale case mapping, codecs opened by name (through an HTML ``<meta charset>``,
the path Qt itself takes), time-zone display names; plus non-ASCII and right-to-left text
through a line edit, the clipboard and text layout, which must not depend on ICU data.
"""

from __future__ import annotations

import functools
import json
import sys

from PySide6.QtCore import QByteArray, QCollator, QLocale, QMimeData, QStringConverter, Qt, QTimeZone
from PySide6.QtGui import QTextLayout, QTextOption
from PySide6.QtWidgets import QApplication, QLineEdit

WORDS = ["zebra", "Äpfel", "apple", "Ångström", "öl", "ol", "Zürich", "çay", "cukor", "ıhlamur", "İstanbul",
         "ch", "cz", "中文", "汉字", "日本", "한국어", "가나다", "あいう", "カタカナ", "שלום", "مرحبا", "ไทย",
         "ñandú", "nube", "Łódź", "lody", "ß", "ss", "a10", "a2", "A1"]
LOCALES = ["en_US", "de_DE", "sv_SE", "tr_TR", "zh_CN", "zh_TW", "ja_JP", "ko_KR", "ar_EG", "he_IL", "th_TH",
           "es_ES", "pl_PL", "cs_CZ", "fi_FI", "C"]
SAMPLE = "Grüße, Привет, Γειά, שלום עולם, مرحبا بالعالم, 日本語のテキスト, 한국어, 中文汉字, ไทย, €"
RTL = "שלום עולם – مرحبا بالعالم 123 (abc)"


def collation() -> dict[str, list[str]]:
    out = {}
    for name in LOCALES:
        collator = QCollator(QLocale(name))
        out[name] = sorted(WORDS, key=functools.cmp_to_key(collator.compare))
        collator.setNumericMode(True)
        collator.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        out[f"{name} numeric, any case"] = sorted(WORDS, key=functools.cmp_to_key(collator.compare))
    return out


def case_mapping() -> dict[str, list[str]]:
    return {name: [QLocale(name).toUpper("iıİI ß ﬁ ǆ ὀδυσσεύς ijsland"), QLocale(name).toLower("IİıI ΟΔΥΣΣΕΥΣ ǄLJ Ĩ")]
            for name in ("tr_TR", "az_AZ", "lt_LT", "el_GR", "de_DE", "nl_NL", "en_US")}


def html_codecs(labels: list[str]) -> dict[str, str]:
    """Each label as a page's <meta charset>, the sample encoded by Python's codec of that name."""
    out = {}
    for label in labels:
        try:
            body = SAMPLE.encode(label, errors="xmlcharrefreplace")
        except LookupError:  # Python knows no such codec: an ASCII body still shows the decoder ran
            body = b"plain"
        mime = QMimeData()
        mime.setData("text/html", QByteArray(f'<meta charset="{label}">'.encode() + body))
        out[label] = mime.html()
    return out


def time_zone_names() -> dict[str, list[str]]:
    return {zone: [QTimeZone(zone.encode()).displayName(QTimeZone.TimeType.StandardTime,
                                                        QTimeZone.NameType.LongName, QLocale(name))
                   for name in ("en_US", "de_DE", "ja_JP")]
            for zone in ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "Asia/Jerusalem")}


def rtl_roundtrip(app: QApplication) -> dict[str, bool]:
    edit = QLineEdit()
    edit.setText(RTL)
    app.clipboard().setText(edit.text())
    layout = QTextLayout(RTL, edit.font())
    option = QTextOption()
    option.setTextDirection(Qt.LayoutDirection.LayoutDirectionAuto)
    layout.setTextOption(option)
    layout.beginLayout()
    line = layout.createLine()
    line.setLineWidth(10_000)
    layout.endLayout()
    first, last = line.cursorToX(0)[0], line.cursorToX(len(RTL))[0]
    return {"line edit": edit.text() == RTL, "clipboard": app.clipboard().text() == RTL,
            "laid out in one line": line.textLength() == len(RTL), "starts at the right": first > last}


def icu_data_file() -> str:
    with open("/proc/self/maps", encoding="utf-8") as maps:
        return next(line.split()[-1] for line in maps if "libicudata.so" in line)


def main() -> None:
    labels = json.loads(sys.argv[1])
    app = QApplication(["icu-probe"])
    json.dump({"collation": collation(), "case": case_mapping(), "html": html_codecs(labels),
               "codecs": sorted(QStringConverter.availableCodecs()), "zones": time_zone_names(),
               "rtl": rtl_roundtrip(app), "icu data": icu_data_file()}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
