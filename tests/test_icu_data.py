"""The bundle's trimmed ICU data (packaging/icu.py) answers Qt exactly as the full data does.

The trimmed library is built here from the installed PySide6's ICU with the bundle's own
code, then tests/icu_probe.py runs twice -- with the wheel's data and with the trimmed
library first on the loader's path -- and the answers are compared: collation in sixteen
locales, locale case mapping, every web encoding label through Qt's own HTML decoder,
non-ASCII and right-to-left text through a line edit, the clipboard and text layout.
The one intended difference is checked too: time-zone display names are gone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6 import QtCore

from conftest import packaging_module

icu = packaging_module("icu")
PROBE = Path(__file__).with_name("icu_probe.py")
WHEEL_DATA = next((Path(QtCore.__file__).parent / "Qt" / "lib").glob("libicudata.so.*"))
#: Codecs outside the web's labels: were there before, gone after (the cut is real).
NOT_WEB = ["IBM037", "IBM1047", "x11-compound-text"]


def _probe(extra_env: dict[str, str]) -> dict:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **extra_env}
    done = subprocess.run([sys.executable, str(PROBE), json.dumps(icu.WEB_ENCODING_LABELS + NOT_WEB)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, list[str]]:
    folder = tmp_path_factory.mktemp("icu")
    trimmed, removed = icu.trimmed_library(WHEEL_DATA, folder)
    full = _probe({})
    small = _probe({"LD_LIBRARY_PATH": str(folder)})
    assert Path(full["icu data"]).resolve() == WHEEL_DATA.resolve()
    assert Path(small["icu data"]).resolve() == trimmed.resolve()  # the probe really used the trimmed data
    return full, small, removed


def test_collation_is_unchanged(answers) -> None:
    full, small, _ = answers
    assert small["collation"] == full["collation"]
    assert full["collation"]["sv_SE"] != full["collation"]["de_DE"]  # tailorings, not just code points


def test_locale_case_mapping_is_unchanged(answers) -> None:
    full, small, _ = answers
    assert small["case"] == full["case"]
    assert full["case"]["tr_TR"][0].startswith("İIİI")


def test_every_web_encoding_decodes_as_before(answers) -> None:
    full, small, _ = answers
    web = {label: text for label, text in full["html"].items() if label not in NOT_WEB}
    assert {label: small["html"][label] for label in web} == web
    assert "日本語のテキスト" in web["shift_jis"] and "שלום עולם" in web["windows-1255"]


def test_codecs_no_web_page_can_name_are_gone(answers) -> None:
    full, small, _ = answers
    assert set(small["codecs"]) < set(full["codecs"])
    assert "IBM037" in full["codecs"] and "IBM037" not in small["codecs"]
    assert {"Shift_JIS", "GB18030", "windows-1252", "EUC-KR", "Big5"} <= set(small["codecs"])


def test_rtl_and_non_ascii_text_round_trip(answers) -> None:
    full, small, _ = answers
    assert small["rtl"] == full["rtl"] == dict.fromkeys(full["rtl"], True)


def test_only_time_zone_display_names_are_lost(answers) -> None:
    full, small, removed = answers
    assert all(all(names) for names in full["zones"].values())
    assert all(not any(names) for names in small["zones"].values())
    assert "zone/de.res" in removed and "coll/de.res" not in removed and "coll/ucadata.icu" not in removed
