"""The Spend tab's charts: QtCharts (PySide6-Addons) against our own QPainter chart (issue 13).

Measured, not guessed, because issue 11 holds the app to RSS <= 1.5x a bare
Qt tray and the onedir bundle to <= 120 MB:

* memory -- each variant runs in a fresh interpreter (offscreen Qt), builds a
  window holding the same 30 days of data (a balance line of ~1,000 readings,
  5 providers x 30 stacked bars), paints it once and reports VmRSS; baseline:
  the same window without a chart, in the same run.  Every variant first
  imports what the app has loaded when the tab opens (``ui.window`` and the
  core and client under it), so only the chart's own cost differs;
* bundle -- what QtCharts would add to the onedir: its binding and
  libQt6Charts, plus the two Qt libraries it links that the bundle prunes
  today (libQt6OpenGL, libQt6OpenGLWidgets), each stripped as the bundle
  strips; against the size of our own module.  And what ``pip install`` would
  pull for it: the whole PySide6-Addons wheel.

QtCharts comes from a PySide6-Addons wheel of the same version as the
installed PySide6-Essentials (``pip download PySide6-Addons==<version>
--no-deps``): its two QtCharts files are laid beside a copy of the installed
PySide6 in a temporary directory, so the project's environment is untouched.

Run: ``.venv/bin/python bench/bench_chart.py --addons-wheel pyside6_addons-<version>-....whl``
(without the wheel only our chart is measured).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import PySide6

ROOT = Path(__file__).resolve().parent.parent
ESSENTIALS = Path(PySide6.__file__).resolve().parent
CHART_FILES = ("PySide6/QtCharts.abi3.so", "PySide6/Qt/lib/libQt6Charts.so.6")
#: Qt libraries QtCharts links that the bundle otherwise prunes (packaging/vendo-tray.spec).
PRUNED_DEPENDENCIES = ("libQt6OpenGL.so.6", "libQt6OpenGLWidgets.so.6")

CHILD = r"""
import os, sys
from datetime import datetime, timedelta, timezone
from PySide6.QtWidgets import QApplication, QWidget, QVBoxLayout
from vendo_tray.core.kinds import normalize
from vendo_tray.core.spend import spend_history
import vendo_tray.ui.window  # noqa: F401 - loaded in the app before the tab is opened: not the chart's cost

variant = sys.argv[1]
app = QApplication([])
now = datetime.now(timezone.utc)
events, balance = [], 40_000_000
for n in range(1000):  # a month of usage and the balance after each
    at = now - timedelta(days=29) + timedelta(minutes=41 * n)
    micros = 5_000 + (n * 7919) % 60_000
    balance -= micros
    provider = ("openai", "anthropic", "gmail", "slack", "notion")[n % 5]
    events.append(normalize("billing.usage_recorded", {"provider": provider, "micros": micros}, received_at=at))
    events.append(normalize("billing.balance_changed", {"remaining_micros": balance}, received_at=at))
history = spend_history(events, now=now, current_balance=balance)

window = QWidget()
QVBoxLayout(window)
window.resize(1000, 600)
if variant == "painter":
    from vendo_tray.ui.spend_view import SpendChart
    chart = SpendChart()
    chart.set_history(history)
    window.layout().addWidget(chart)
elif variant == "qtcharts":
    from PySide6.QtCharts import (QBarSet, QChart, QChartView, QDateTimeAxis, QLineSeries, QStackedBarSeries,
                                  QValueAxis)
    from PySide6.QtCore import Qt
    line = QLineSeries()
    for point in history.balance:
        line.append(point.at.timestamp() * 1000, point.micros / 1e6)
    top = QChart()
    top.addSeries(line)
    x_axis, y_axis = QDateTimeAxis(), QValueAxis()
    top.addAxis(x_axis, Qt.AlignmentFlag.AlignBottom)
    top.addAxis(y_axis, Qt.AlignmentFlag.AlignLeft)
    line.attachAxis(x_axis)
    line.attachAxis(y_axis)
    bars = QStackedBarSeries()
    for provider in history.providers:
        barset = QBarSet(provider)
        barset.append([dict(day.by_provider).get(provider, 0) / 1e6 for day in history.days])
        bars.append(barset)
    bottom = QChart()
    bottom.addSeries(bars)
    bottom.createDefaultAxes()
    for chart in (top, bottom):
        view = QChartView(chart)
        window.layout().addWidget(view)
elif variant != "baseline":
    raise SystemExit(f"unknown variant {variant}")
window.show()
window.grab()  # one full paint
app.processEvents()
with open("/proc/self/status") as status:
    rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
print(rss / 1024)
"""


def rss_of(variant: str, pythonpath: Path | None = None, runs: int = 3) -> float:
    """Median RSS (MB) of ``runs`` fresh interpreters showing ``variant``."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), str(ROOT / "app")])
    values = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", CHILD, variant], capture_output=True, text=True,
                             env=env, timeout=120, check=True)
        values.append(float(out.stdout.split()[-1]))
    return sorted(values)[len(values) // 2]


def stripped_size(path: Path, scratch: Path) -> int:
    """The file's size after ``strip --strip-debug`` (what the bundle ships)."""
    copy = scratch / f"stripped-{path.name}"
    shutil.copyfile(path, copy)
    if shutil.which("strip"):
        subprocess.run(["strip", "--strip-debug", str(copy)], check=True)
    return copy.stat().st_size


def with_qtcharts(wheel: Path, scratch: Path) -> tuple[Path, int, int]:
    """A copy of the installed PySide6 plus QtCharts from ``wheel``; (path, files' size, wheel unpacked)."""
    target = scratch / "site"
    shutil.copytree(ESSENTIALS, target / "PySide6", symlinks=True)
    shutil.copytree(ESSENTIALS.parent / "shiboken6", target / "shiboken6", symlinks=True)
    with zipfile.ZipFile(wheel) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
        added = 0
        for name in CHART_FILES:
            (target / name).write_bytes(archive.read(name))
            added += stripped_size(target / name, scratch)
    return target, added, unpacked


def reading_costs() -> tuple[float, float, float]:
    """ms to read a full history (25,000 usage + 25,000 balance events in a week), median of 3:
    (whole events via Store.recent, the Spend tab's history_from, the monitor's runway_from)."""
    import statistics
    import time
    from datetime import datetime, timedelta, timezone

    from vendo_tray.core.kinds import normalize
    from vendo_tray.core.runway import runway_from
    from vendo_tray.core.spend import history_from
    from vendo_tray.core.store import Store

    now = datetime.now(timezone.utc)
    events = []
    for n in range(25_000):
        at = now - timedelta(days=7) * (1 - n / 25_000)
        events.append(normalize("billing.usage_recorded", {"id": f"u{n}", "provider": "openai", "micros": 100},
                                received_at=at))
        events.append(normalize("billing.balance_changed", {"id": f"b{n}", "remaining_micros": 10**9 - 100 * n},
                                received_at=at))

    def ms(call) -> float:  # noqa: ANN001
        times = []
        for _ in range(3):
            start = time.perf_counter()
            call()
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    with tempfile.TemporaryDirectory() as scratch, Store.open(Path(scratch) / "h.sqlite3") as store:
        store.add_many(events)
        week = now - timedelta(days=8)
        return (ms(lambda: store.recent(week)), ms(lambda: history_from(store, now=now)),
                ms(lambda: runway_from(store, balance_micros=1, now=now)))


def mb(size: float) -> str:
    return f"{size / 1e6:.1f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--addons-wheel", type=Path, help="a PySide6-Addons wheel of the installed version")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    baseline = rss_of("baseline", runs=args.runs)
    painter = rss_of("painter", runs=args.runs)
    ours = (ROOT / "app" / "vendo_tray" / "ui" / "spend_view.py").stat().st_size
    print(f"RSS, window without a chart (baseline): {baseline:.1f} MB")
    print(f"RSS, our QPainter chart:                {painter:.1f} MB (+{painter - baseline:.1f} MB)")
    print(f"bundle, our chart: {ours / 1e3:.1f} kB of Python source")
    whole, history, runway = reading_costs()
    print(f"reading 50,000 billing events: whole events {whole:.0f} ms; the Spend tab's figures "
          f"{history:.0f} ms; the runway (25,000 readings) {runway:.0f} ms")
    if args.addons_wheel is None:
        print("QtCharts not measured: pass --addons-wheel (see the module docstring)")
        return 0
    with tempfile.TemporaryDirectory(prefix="vendo-bench-chart-") as scratch:
        site, added, unpacked = with_qtcharts(args.addons_wheel, Path(scratch))
        charts = rss_of("qtcharts", pythonpath=site, runs=args.runs)
        pruned = sum(stripped_size(ESSENTIALS / "Qt" / "lib" / name, Path(scratch)) for name in PRUNED_DEPENDENCIES)
    print(f"RSS, QtCharts:                          {charts:.1f} MB (+{charts - baseline:.1f} MB)")
    print(f"bundle, QtCharts: +{mb(added)} (binding + libQt6Charts, stripped) "
          f"+{mb(pruned)} (libQt6OpenGL + libQt6OpenGLWidgets, pruned today) = +{mb(added + pruned)}")
    print(f"pip install, PySide6-Addons: {mb(args.addons_wheel.stat().st_size)} wheel, "
          f"{mb(unpacked)} unpacked")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
