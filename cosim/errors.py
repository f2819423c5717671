"""Errors cosim raises for bad input. Each message is one line naming the file (or value) and the fix."""

from __future__ import annotations


class CosimError(Exception):
    """Base class: a user-facing, one-line error."""


class ConfigError(CosimError):
    """A setting (environment variable, config file, CLI option) is missing or invalid."""


class PdkError(CosimError):
    """Device models or the bitcell library cannot be found or are incomplete."""


class NetlistError(CosimError):
    """A netlist is malformed or unsafe to simulate."""


class CornerError(CosimError):
    """An unknown process corner, or a supply/temperature outside the allowed range."""


class TableRangeError(CosimError):
    """A query outside a characterization table's grid (tables never extrapolate)."""


class DatasetError(CosimError):
    """A dataset file is missing or corrupt."""


class TableIntegrityError(CosimError):
    """A characterization table that does not match its provenance or holds physically impossible numbers."""


class SweepIncomplete(CosimError):
    """A sweep ended with corners the simulator could not simulate (faults, not results: nothing of them stored)."""


class ModelError(CosimError, ValueError):
    """A model file cannot be loaded, or holds an operation the engine cannot run (named with its fx node)."""
