"""Each package's face: what ``from vendo_tray.client import …`` offers is pinned here.

A name added to or dropped from a package's ``__all__`` is a change of its public face and
should be a conscious one (this test then changes with it). Every public name a package's
``__init__`` binds is in its ``__all__``, so nothing leaks out by accident.
"""

from __future__ import annotations

import types

import pytest

import vendo_tray.client
import vendo_tray.simulator

FACES = {
    vendo_tray.client: [
        "API_VERSION", "APIConnectionError", "AsyncVendo", "AuthError", "Balance", "Connection",
        "DEFAULT_BASE_URL", "Event", "EventStream", "PaymentRequired", "RateLimited", "ReconnectPolicy",
        "ServerError", "SpendCaps", "StreamPhase", "StreamStatus", "VendoError", "VendoOnlyFeature",
    ],
    vendo_tray.simulator: [
        "ALL_FAULTS", "DEMO_KEY", "EVENTS_PATH", "LEGACY_ALIASES", "LOW_BALANCE_MICROS", "SCENARIOS",
        "STATUSES", "Simulator",
    ],
}


@pytest.mark.parametrize("package", list(FACES), ids=lambda p: p.__name__)
def test_each_package_exports_exactly_its_pinned_names(package: types.ModuleType) -> None:
    assert sorted(package.__all__) == sorted(FACES[package])
    for name in package.__all__:
        assert getattr(package, name, None) is not None, f"{package.__name__}.{name} is listed but missing"


@pytest.mark.parametrize("package", list(FACES), ids=lambda p: p.__name__)
def test_every_public_name_of_a_package_is_in_its_all(package: types.ModuleType) -> None:
    bound = {name for name, value in vars(package).items()
             if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"}
    assert bound <= set(package.__all__), f"{package.__name__} binds unlisted names: {bound - set(package.__all__)}"

