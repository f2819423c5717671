"""The README's `cosim infer` examples run as written (on a small seeded subset, without plots), on the committed
tables; the accelerator example is applied to a copy of the default file."""

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from cosim.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"


def _examples() -> list[list[str]]:
    out = []
    for line in README.read_text().splitlines():
        m = re.match(r"^\.venv/bin/cosim (infer[^#]*)", line.strip())
        if m and "--macro sram_64x256" not in m.group(1) and "my_chip.toml" not in m.group(1):
            out.append(shlex.split(m.group(1)))
    return out


def test_readme_has_examples():
    cmds = _examples()
    assert any("--banks" in c for c in cmds) and any("--sweep" in c for c in cmds) and any("--process" in c for c in cmds)


@pytest.mark.parametrize("argv", _examples(), ids=lambda a: " ".join(a))
def test_readme_infer_example_runs(argv, tmp_path):
    extra = ["--limit", "30", "--no-plots", "--out", str(tmp_path)] + (["--jobs", "1"] if "--sweep" in argv else [])
    if "--chips" in argv:  # two chip instances stand for the example's ten: the same code path, a fifth of the runs
        argv = [*argv[:argv.index("--chips") + 1], "2", *argv[argv.index("--chips") + 2:]]
    r = CliRunner().invoke(cli, argv + extra)
    assert r.exit_code == 0, r.output
    if argv[1:] == ["--banks", "1,1"]:
        assert "DOES NOT FIT" in r.output  # as the README says
    if "--banks" in argv and argv[-1] == "19,2":
        assert "model on chip" in r.output


def test_readme_accelerator_example(tmp_path):
    from cosim.memory.accelerator import DEFAULT_ACCELERATOR

    text = README.read_text()
    assert 'frequency_hz = 150e6' in text and "clock_gating = false" in text and "banks = 24" in text
    toml = DEFAULT_ACCELERATOR.read_text()
    toml = toml.replace("banks = 19 ", "banks = 24 ").replace('mode = "min_cycle"', 'mode = "fixed"\nfrequency_hz = 150e6')
    toml = toml.replace("clock_gating = true", "clock_gating = false")
    p = tmp_path / "my_chip.toml"
    p.write_text(toml)
    r = CliRunner().invoke(cli, ["infer", "--accelerator", str(p), "--limit", "30", "--no-plots", "--out",
                                 str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "24 x sram_32x512" in r.output and "150 MHz" in r.output and "clock gating off" in r.output
