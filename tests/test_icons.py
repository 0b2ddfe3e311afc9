"""packaging/icons.py: SVG sources -> PNGs, an ICO and an ICNS that real readers accept.

Each container is checked twice, by parsing its bytes against the format here and
by Qt's own ICO/ICNS image readers (independent of the writer under test).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from conftest import packaging_module

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
REAL_ICONS = ROOT / "resources" / "icons"


icons = packaging_module("icons")

# A drawing with a non-square viewBox, text and a gradient: the parts most likely to
# trip a renderer. Written here as test input, not as the product's icon.
TEST_SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 80 64">
  <defs><linearGradient id="g"><stop offset="0" stop-color="#2a6"/><stop offset="1" stop-color="#06c"/></linearGradient></defs>
  <rect x="4" y="4" width="72" height="56" rx="10" fill="url(#g)"/>
  <text x="28" y="44" font-size="28" fill="#fff">V</text>
</svg>"""


def _png_dims(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _ico_entries(data: bytes) -> list[tuple[int, bytes]]:
    reserved, kind, count = struct.unpack_from("<HHH", data, 0)
    assert (reserved, kind) == (0, 1)
    out = []
    for i in range(count):
        w, h, _colors, _res, _planes, _bpp, length, offset = struct.unpack_from("<BBBBHHII", data, 6 + 16 * i)
        assert w == h
        out.append((w or 256, data[offset:offset + length]))
    return out


def _icns_elements(data: bytes) -> dict[bytes, bytes]:
    assert data[:4] == b"icns"
    assert struct.unpack(">I", data[4:8])[0] == len(data)
    pos, out = 8, {}
    while pos < len(data):
        kind, length = data[pos:pos + 4], struct.unpack(">I", data[pos + 4:pos + 8])[0]
        assert length > 8
        out[kind] = data[pos + 8:pos + length]
        pos += length
    assert pos == len(data)
    return out


def _qt_frames(path: Path) -> list[int]:
    from PySide6.QtGui import QImageReader

    reader = QImageReader(str(path))
    widths = []
    for i in range(reader.imageCount()):
        assert reader.jumpToImage(i)
        image = reader.read()
        assert not image.isNull(), reader.errorString()
        assert image.width() == image.height()
        widths.append(image.width())
    return widths


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "vendo-tray.svg").write_text(TEST_SVG)
    (src / "tray-live.svg").write_text(TEST_SVG.replace("#2a6", "#c33"))
    return src


def test_every_source_renders_at_every_size(qapp, sources: Path, tmp_path: Path) -> None:
    result = icons.render_all(sources, tmp_path / "out")
    assert set(result.pngs) == {"vendo-tray", "tray-live"}
    for name, by_size in result.pngs.items():
        assert sorted(by_size) == sorted(icons.PNG_SIZES)
        for size, path in by_size.items():
            assert path == tmp_path / "out" / "hicolor" / f"{size}x{size}" / "apps" / f"{name}.png"
            assert _png_dims(path.read_bytes()) == (size, size)
        assert (tmp_path / "out" / "hicolor" / "scalable" / "apps" / f"{name}.svg").is_file()


def test_rendering_draws_something_and_keeps_transparency(qapp, sources: Path) -> None:
    from PySide6.QtGui import QImage

    image = QImage.fromData(icons.render_png(sources / "vendo-tray.svg", 64))
    assert (image.width(), image.height()) == (64, 64)
    # The 80x64 viewBox is centred, so the left and right edge columns stay transparent
    # and the centre is opaque.
    assert image.pixelColor(0, 32).alpha() == 0
    assert image.pixelColor(32, 32).alpha() == 255


def test_ico_holds_a_png_per_size_and_qt_reads_it(qapp, sources: Path, tmp_path: Path) -> None:
    result = icons.render_all(sources, tmp_path / "out")
    entries = _ico_entries(result.ico.read_bytes())
    assert [size for size, _ in entries] == list(icons.ICO_SIZES)
    for size, payload in entries:
        assert _png_dims(payload) == (size, size)
    assert _qt_frames(result.ico) == list(icons.ICO_SIZES)


def test_icns_holds_each_type_at_its_size_and_qt_reads_it(qapp, sources: Path, tmp_path: Path) -> None:
    result = icons.render_all(sources, tmp_path / "out")
    elements = _icns_elements(result.icns.read_bytes())
    expected = dict(icons.ICNS_TYPES)
    assert set(elements) == set(expected)
    for kind, payload in elements.items():
        assert _png_dims(payload) == (expected[kind],) * 2, kind
    assert sorted(_qt_frames(result.icns)) == sorted(expected.values())


def test_missing_app_icon_is_an_error_not_a_placeholder(qapp, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "tray-live.svg").write_text(TEST_SVG)
    with pytest.raises(icons.IconError, match="vendo-tray.svg"):
        icons.render_all(src, tmp_path / "out")


def test_an_unparsable_svg_is_reported(qapp, tmp_path: Path) -> None:
    bad = tmp_path / "bad.svg"
    bad.write_text("<svg this is not xml")
    with pytest.raises(icons.IconError, match="bad.svg"):
        icons.render_png(bad, 32)


def test_containers_reject_images_of_the_wrong_size(qapp, sources: Path) -> None:
    png32 = icons.render_png(sources / "vendo-tray.svg", 32)
    with pytest.raises(icons.IconError):
        icons.ico_bytes({16: png32})
    with pytest.raises(icons.IconError):
        icons.icns_bytes({16: png32})


def test_the_shipped_sources_render(qapp, tmp_path: Path) -> None:
    """The real icons in the package: the app icon exists and every SVG renders cleanly."""
    result = icons.render_all(REAL_ICONS, tmp_path / "out")
    assert "vendo-tray" in result.pngs
    for name, by_size in result.pngs.items():
        for size, path in by_size.items():
            assert _png_dims(path.read_bytes()) == (size, size), name
    assert _qt_frames(result.ico) == list(icons.ICO_SIZES)


def test_the_notification_png_follows_the_icon_source(qapp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtGui import QImage

    from vendo_tray.ui import icons

    (tmp_path / "vendo-tray-64.png").write_bytes(b"the PNG an older version cached")
    first = icons.notification_png(tmp_path)
    assert QImage(str(first)).width() == icons.NOTIFICATION_ICON_PX
    assert icons.notification_png(tmp_path) == first  # rendered once, then reused
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # the stale rendering is gone

    # An upgrade that changes the icon: the next start renders the new one.
    new_svg = tmp_path / "new.svg"
    new_svg.write_text(icons.svg_path("vendo-tray").read_text().replace("<svg", "<svg data-v='2'", 1))
    monkeypatch.setattr(icons, "svg_path", lambda name: new_svg)
    second = icons.notification_png(tmp_path)
    assert second != first and second.exists() and not first.exists()
