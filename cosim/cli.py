"""The `cosim` command: thin sub-commands that wire the stages together.

Each sub-command lives beside the stage it drives and is loaded lazily, so `cosim --help` does not import torch or
PySpice, and a broken optional stage cannot break the others.
"""

from __future__ import annotations

import importlib
import sys

import click

from cosim.errors import CosimError

#: optional dependencies (pyproject extras): module -> the extra that installs it
OPTIONAL = {"dask": "dask", "distributed": "dask", "xarray": "xarray", "openram": "openram"}

#: sub-command name -> "module:attribute" of a click command
COMMANDS: dict[str, str] = {
    "pdk": "cosim.pdk.cli:pdk",
    "infer": "cosim.report.cli:infer",
    "netlists": "cosim.openram.cli:netlists",
    "characterize": "cosim.characterize.cli:characterize",
    "characterize-arcs": "cosim.characterize.cli:characterize_arcs",
    "liberty": "cosim.characterize.cli:liberty",
    "report": "cosim.characterize.cli:report",
    "train": "cosim.engine.cli:train",
    "evaluate": "cosim.engine.cli:evaluate",
    "compress": "cosim.engine.cli:compress",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="cosim")
def cli() -> None:
    """cosim: sky130 SRAM macros characterized with ngspice; INT8 inference charged from the tables."""


def main() -> None:
    try:
        code = cli(standalone_mode=False)
    except CosimError as exc:  # one clear line, no traceback, for bad input
        click.echo(f"cosim: error: {exc}", err=True)
        sys.exit(2)
    except click.UsageError as exc:  # one line too: what was wrong and where the help is
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `cosim`: the help, as click prints it
            click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message(), err=True)
            sys.exit(2)
        where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        click.echo(f"cosim: usage error: {exc.format_message()}{where}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("cosim: aborted", err=True)
        sys.exit(1)
    except ModuleNotFoundError as exc:
        extra = OPTIONAL.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        click.echo(f"cosim: error: this needs the optional package {exc.name!r}: pip install 'cosim[{extra}]' "
                   f"(in a checkout: .venv/bin/pip install -e '.[{extra}]')", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
