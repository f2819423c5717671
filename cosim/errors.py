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


class InterpolationRefused(TableRangeError):
    """A query between grid points whose neighbouring grid points disagree on pass/fail (any of them failed, or an
    op's status differs): pass/fail is never interpolated. The message names the table, the query, the neighbours
    and their statuses, and the fix (query a grid point or characterize the corner)."""


class UnusableCorner(CosimError):
    """A corner where a macro cannot hold a network: its writes fail, or its reads fail at every clock the table
    tried. The message names the macro, the corner, the op that failed (with the table's message) and the fix;
    ``status`` is the short verdict a sweep lists ("unusable: writes fail", ...), ``detail`` the failed ops with
    the table's messages."""

    def __init__(self, message: str, status: str = "unusable", detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail

    def __reduce__(self):  # keep the fields across processes (sweeps run corners in worker processes)
        return type(self), (str(self), self.status, self.detail)


class DatasetError(CosimError):
    """A dataset file is missing or corrupt."""


class TableIntegrityError(CosimError):
    """A characterization table that does not match its provenance or holds physically impossible numbers."""


class SweepIncomplete(CosimError):
    """A sweep ended with corners the simulator could not simulate (faults, not results: nothing of them stored)."""


class ModelError(CosimError, ValueError):
    """A model file cannot be loaded, or holds an operation the engine cannot run (named with its fx node)."""
