"""Shared fixtures. Tests that need ngspice are marked `spice`; they run by default (ngspice is installed by
`make setup`), and are skipped with a reason only when libngspice cannot be loaded at all."""

from __future__ import annotations

import pytest

from cosim.config import Settings, load_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def models(settings):
    from cosim.pdk.sky130 import locate_models

    return locate_models(settings)
