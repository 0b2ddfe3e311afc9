"""Run the real tray app in this process, and answer questions about it on stdin.

``python tests/app_probe.py [vendo-tray arguments]`` is ``vendo-tray`` plus a
daemon thread that reads commands from stdin; ``modules`` answers with one line,
``MODULES <json list of sys.modules names>``, and ``libraries`` with
``LIBRARIES <json list of the shared libraries mapped>`` (Linux). Qt releases the GIL while it
waits in its event loop, so the thread answers while the app idles.

WHY a wrapper and not a flag in the app: what a module loads is a property of
the app as users start it; a debugging switch inside it would be one more path
to load and keep.
"""

from __future__ import annotations

import json
import runpy
import sys
import threading

MARK = "MODULES "
LIBRARIES = "LIBRARIES "


def _libraries() -> list[str]:
    """The shared libraries mapped into this process (Qt plugins included), from /proc/self/maps."""
    with open("/proc/self/maps") as maps:
        return sorted({line.split()[-1] for line in maps if ".so" in line})


def _serve() -> None:
    for line in sys.stdin:
        if line.strip() == "modules":
            sys.stdout.write(MARK + json.dumps(sorted(sys.modules)) + "\n")
        elif line.strip() == "libraries":
            sys.stdout.write(LIBRARIES + json.dumps(_libraries()) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    threading.Thread(target=_serve, name="app-probe", daemon=True).start()
    sys.argv = ["vendo-tray", *sys.argv[1:]]
    runpy.run_module("vendo_tray", run_name="__main__", alter_sys=True)
