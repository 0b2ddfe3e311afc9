"""core.settings: a hand-edited or damaged settings file never crashes the app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vendo_tray.core.monitor import policy_prefs
from vendo_tray.core.settings import DEFAULT_NOTIFY, Settings, load_settings, save_settings, settings_path


def write(config: Path, raw: object) -> None:
    config.mkdir(parents=True, exist_ok=True)
    settings_path(config).write_text(json.dumps(raw), encoding="utf-8")


def test_round_trip(tmp_path: Path) -> None:
    s = Settings(base_url="https://eu.vendo.run", low_balance_dollars=2.5, runway_days=3.5, keep_key_out_of_links=True,
                 sounds=("critical",), notify={**DEFAULT_NOTIFY, "connected": True})
    save_settings(tmp_path, s)
    assert load_settings(tmp_path) == s


@pytest.mark.parametrize(("field", "bad"), [
    ("low_balance_dollars", "0.5"),
    ("low_balance_dollars", float("nan")),
    ("low_balance_dollars", float("inf")),
    ("low_balance_dollars", -1),
    ("low_balance_dollars", True),
    ("low_balance_dollars", [1]),
    ("runway_days", 0),
    ("runway_days", 61),
    ("runway_days", "2"),
    ("runway_days", float("nan")),
    ("base_url", 5),
    ("base_url", None),
    ("sounds", 5),
    ("sounds", "critical"),
    ("keep_key_out_of_links", "no"),
    ("start_at_login", 1),
    ("notify", {"error": "false"}),
])
def test_a_bad_value_falls_back_to_its_default_and_the_rest_is_kept(
        tmp_path: Path, field: str, bad: object, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path, {field: bad, "keep_key_out_of_links": True} if field != "keep_key_out_of_links"
          else {field: bad, "low_balance_dollars": 2.0})
    settings = load_settings(tmp_path)
    default = Settings()
    if field == "notify":
        assert settings.notify == DEFAULT_NOTIFY
    else:
        assert getattr(settings, field) == getattr(default, field)
    if field == "keep_key_out_of_links":
        assert settings.low_balance_dollars == 2.0
    else:
        assert settings.keep_key_out_of_links is True
    policy_prefs(settings)  # what the monitor computes at start-up must not raise
    assert field in caplog.text


def test_an_integer_threshold_is_fine(tmp_path: Path) -> None:
    write(tmp_path, {"low_balance_dollars": 3})
    assert load_settings(tmp_path).low_balance_micros == 3_000_000


def test_every_field_is_checked_on_load() -> None:
    from dataclasses import fields

    from vendo_tray.core import settings as module

    assert set(module._CHECKS) == {f.name for f in fields(Settings)}


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize("content", [
    _deep(100_000),                                    # RecursionError inside json.loads
    b'{"notify": ' + _deep(100_000) + b"}",
    b"\x00\xff\xfe\x89PNG\r\n\x1a\n" + bytes(range(256)),   # binary junk
    b'{"base_url": "https://vendo.run", ',              # cut off
    b"[1, 2, 3]",                                       # not an object
    b'"settings"',
    b"null",
    b"",
    b"\xef\xbb\xbf" + json.dumps({"low_balance_dollars": 1}).encode(),   # a BOM
    b"{" + b'"a": 1, ' * 200_000 + b'"b": 2}',          # big but harmless
], ids=["deep", "deep value", "binary", "cut off", "list", "string", "null", "empty", "bom", "big"])
def test_an_unreadable_settings_file_starts_with_defaults_and_one_clear_line(
        tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    tmp_path.mkdir(exist_ok=True)
    settings_path(tmp_path).write_bytes(content)
    settings = load_settings(tmp_path)
    policy_prefs(settings)
    lines = [r for r in caplog.records if r.name == "vendo_tray.core.settings"]
    if content.startswith(b"\xef\xbb\xbf"):      # an editor's byte order mark is no damage
        assert settings == Settings(low_balance_dollars=1.0) and not lines
    elif content.startswith(b'{"a"'):             # unknown names are ignored
        assert settings == Settings() and not lines
    else:
        assert settings == Settings()
        assert len(lines) == 1 and "settings file" in lines[0].getMessage()
        assert "default" in lines[0].getMessage()


def test_a_number_too_big_for_a_float_is_an_unusable_value_not_a_crash(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings_path(tmp_path).write_text('{"low_balance_dollars": 1' + "0" * 400 + ', "start_at_login": true}')
    settings = load_settings(tmp_path)
    assert settings == Settings(start_at_login=True)
    assert "low_balance_dollars" in caplog.text


def test_a_directory_where_the_file_should_be_gives_defaults(tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    settings_path(tmp_path).mkdir(parents=True)
    assert load_settings(tmp_path) == Settings()
    assert "settings file" in caplog.text
