"""Report schema, CLI and bit-error behaviour on the committed digits model. The SRAM table here is a synthetic
one written by the test (the schema and plumbing are under test, not the numbers); tests/report/test_real_tables.py
runs on the committed characterization tables."""

import json
from dataclasses import replace

import numpy as np
import pytest

from cosim.config import load_settings
from cosim.simulate import InferSpec, run_inference
from cosim.report.report import write_outputs
from cosim.types import Corner
from tests.tablegen import write_table

TOP_KEYS = {
    "accuracy": float, "n_images": int, "macro": str, "process": str, "vdd": float, "temp_c": float,
    "energy_per_inference_j": float, "sram_read_j": float, "sram_write_j": float, "leakage_j": float,
    "offchip_j": float, "compute_j": float, "idle_j": float, "latency_per_inference_s": float,
    "throughput_inferences_per_s": float, "average_power_w": float, "clock_hz": float, "sram_reads": int,
    "sram_writes": int, "offchip_bytes": int, "per_layer": list, "per_class": list, "confusion_matrix": list,
    "provenance": dict, "sources": dict, "memory": dict, "corners": dict, "bit_errors": dict,
}
LAYER_KEYS = {"name", "op", "sram_read_j", "sram_write_j", "idle_j", "leakage_j", "offchip_j", "compute_j", "energy_j",
              "latency_s", "cycles", "sram_reads", "sram_writes", "offchip_bytes", "macs"}


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    d = tmp_path_factory.mktemp("characterization")
    write_table(d, macro="sram_32x512", num_words=512, word_size=32, bit_errors_at=("ss", 1.6, 125.0))
    return replace(load_settings(), characterization_dir=d)


@pytest.fixture(scope="module")
def report(settings, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    res = run_inference(InferSpec(model="digits", limit=120, batch_size=50), settings)
    rep = write_outputs(res, out)
    return rep, out, res


def test_report_schema(report):
    rep, out, res = report
    for k, t in TOP_KEYS.items():
        assert isinstance(rep[k], t), (k, type(rep[k]))
    assert rep["n_images"] == 120 and rep["dataset"] == "digits"
    for layer in rep["per_layer"]:
        assert LAYER_KEYS <= set(layer)
    # every reported energy/latency/clock figure names its source; SRAM ones list table rows of the right corner
    for k in ("sram_read_j", "sram_write_j", "idle_j", "leakage_j", "offchip_j", "compute_j", "clock_hz",
              "latency_per_inference_s", "energy_per_inference_j", "average_power_w", "accuracy", "bit_error_rate"):
        assert k in rep["sources"], k
    for k in ("sram_read_j", "sram_write_j", "idle_j", "leakage_j", "clock_hz"):
        rows = rep["sources"][k]["rows"]
        assert rows and all(r["process"] == "tt" and r["vdd_v"] == 1.8 and r["temp_c"] == 25.0 for r in rows)
    assert "NOT SPICE-derived" in rep["sources"]["offchip_j"]["note"]
    assert rep["provenance"]["tables"]["sram_32x512"]["csv_sha256"]
    assert rep["provenance"]["model_file_sha256"]
    # totals add up
    parts = sum(rep[k] for k in ("sram_read_j", "sram_write_j", "idle_j", "leakage_j", "offchip_j", "compute_j",
                                 "model_load_j"))
    assert rep["energy_per_inference_j"] == pytest.approx(parts, rel=1e-12)
    assert sum(L["energy_j"] for L in rep["per_layer"]) == pytest.approx(parts - rep["model_load_j"], rel=1e-9)
    assert rep["latency_per_inference_s"] == pytest.approx(sum(L["latency_s"] for L in rep["per_layer"]))
    assert np.sum(rep["confusion_matrix"]) == 120
    assert rep["accuracy"] > 0.8  # the committed digits model, no bit errors at tt/1.8/25
    # files
    assert (out / "per_image.csv").read_text().count("\n") == 121
    for png in ("energy_per_layer.png", "energy_breakdown.png", "confusion_matrix.png"):
        assert (out / png).stat().st_size > 1000
    assert json.loads((out / "report.json").read_text())["n_images"] == 120
    # the default accelerator holds the digits model on chip, with SRAM the main term of the energy
    mem = rep["memory"]
    assert mem["on_chip"] and mem["weights"]["fits"] and mem["activations"]["fits"]
    assert mem["weights"]["total_bytes"] == mem["weights"]["banks"] * 2048 >= mem["weights"]["needed_bytes"]
    # shares of the total (synthetic energies here; the real shares are checked in tests/report/test_real_tables.py)
    assert mem["sram_energy_share"] + mem["offchip_energy_share"] + rep["compute_j"] / rep["energy_per_inference_j"] \
        == pytest.approx(1.0, rel=1e-12)
    assert rep["offchip_bytes"] == 64  # only the 8x8 image comes from off-chip
    # report.html: self-contained (plots inline), provenance and key figures present
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "<img" in html and 'src="http' not in html
    assert rep["provenance"]["tables"]["sram_32x512"]["csv_sha256"] in html
    assert "runs on chip" in html and "claim" not in json.dumps(rep) and "36.59" not in html


def test_model_that_does_not_fit_is_said_so(settings, tmp_path):
    from cosim.report.report import summary

    res = run_inference(InferSpec(model="digits", limit=20, banks=(1, 1)), settings)
    rep = write_outputs(res, tmp_path, plots=False)
    mem = rep["memory"]
    assert not mem["on_chip"] and not mem["weights"]["fits"] and not mem["activations"]["fits"]
    assert mem["offchip_energy_share"] == pytest.approx(
        (rep["offchip_j"] + res.preload["offchip_j"] / 20) / rep["energy_per_inference_j"])
    text = summary(rep)
    assert "DOES NOT FIT" in text and f"{mem['offchip_energy_share'] * 100:.1f} % of the energy is off-chip" in text
    assert "does not fit on chip" in (tmp_path / "report.html").read_text()


def test_bit_errors_injected_at_table_rate(settings):
    # synthetic table: 1 wrong bit of 64 checked (two 32-bit reads) at ss/1.6/125 -> BER 1/64; none elsewhere.
    # Per access every bit read flips independently: the flipped share is binomial around the rate
    spec = InferSpec(model="digits", limit=120, corner=Corner("ss", 1.6, 125.0), seed=3, fault_model="per_access")
    res = run_inference(spec, settings)
    assert res.extra["ber_applied"] == pytest.approx(1 / 64)
    assert res.bits_read > 0
    p = res.bits_flipped / res.bits_read
    assert abs(p - 1 / 64) < 5 * np.sqrt(p * (1 - p) / res.bits_read)
    clean = run_inference(replace(spec, bit_errors=False), settings)
    assert clean.bits_flipped == 0
    assert (res.predictions == res.labels).mean() < (clean.predictions == clean.labels).mean()
    again = run_inference(spec, settings)
    assert np.array_equal(again.predictions, res.predictions) and again.bits_flipped == res.bits_flipped
    # a chip's fault map: the same weak cells on every image (the weights' flips repeat per batch), its own share
    # of weak cells, and another chip is another map
    chip = run_inference(replace(spec, fault_model="map", batch_size=40), settings)
    faults = chip.extra["faults"]
    assert faults["model"] == "map" and faults["chip"] == 0
    weights = faults["memories"]["weights"]
    weak = weights["weak_cells_read_0_holding_1"] + weights["weak_cells_read_1_holding_0"]
    expected = 2 * weights["cells"] / 64
    assert abs(weak - expected) < 5 * np.sqrt(expected)
    assert run_inference(replace(spec, fault_model="map", batch_size=40), settings).bits_flipped == chip.bits_flipped
    other = run_inference(replace(spec, fault_model="map", batch_size=40, chip=1), settings)
    assert other.bits_flipped != chip.bits_flipped


def test_batches_side_by_side_charge_as_one_batch(settings, report):
    # the fixture's 3 batches of 50 run side by side (one per core), each charged from the activation memory content
    # the batch before it left: the same per-image counts and energies as the 120 images in one batch
    _, _, res = report
    one = run_inference(InferSpec(model="digits", limit=120, batch_size=120), settings)
    assert np.array_equal(res.predictions, one.predictions)
    np.testing.assert_array_equal(res.energy_per_image_j, one.energy_per_image_j)
    for k in ("sram_reads", "sram_writes", "offchip_bytes"):
        np.testing.assert_array_equal(res.counts[k], one.counts[k])


@pytest.mark.parametrize("fault_model", ["map", "per_access"])
def test_bit_errors_do_not_depend_on_how_many_batches_run_at_once(settings, fault_model):
    import torch

    spec = InferSpec(model="digits", limit=120, batch_size=50, corner=Corner("ss", 1.6, 125.0), seed=5,
                     fault_model=fault_model)
    side_by_side = run_inference(spec, settings)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core: the batches run one after the other
    try:
        in_turn = run_inference(spec, settings)
    finally:
        torch.set_num_threads(threads)
    assert side_by_side.bits_flipped == in_turn.bits_flipped > 0
    assert np.array_equal(side_by_side.predictions, in_turn.predictions)
    np.testing.assert_array_equal(side_by_side.energy_per_image_j, in_turn.energy_per_image_j)


def test_no_flips_where_table_has_no_errors(report):
    _, _, res = report
    assert res.extra["ber_applied"] == 0.0 and res.bits_flipped == 0


def test_cli_and_sweep(settings, tmp_path, monkeypatch):
    from click.testing import CliRunner

    import cosim.simulate as infer_mod
    from cosim.cli import cli

    monkeypatch.setattr(infer_mod, "load_settings", lambda: settings)
    r = CliRunner().invoke(cli, ["infer", "--limit", "40", "--out", str(tmp_path / "one"), "--no-plots"])
    assert r.exit_code == 0, r.output
    assert "accuracy" in r.output and (tmp_path / "one" / "report.json").is_file()
    r = CliRunner().invoke(cli, ["infer", "--limit", "40", "--process", "tt", "--vdd", "2.5"])
    assert r.exit_code != 0


def test_clock_faster_than_table_refused(settings, tmp_path):
    from cosim.errors import ConfigError

    acc = tmp_path / "fast.toml"
    from cosim.memory.accelerator import DEFAULT_ACCELERATOR
    acc.write_text(DEFAULT_ACCELERATOR.read_text().replace('mode = "min_cycle"', 'mode = "fixed"\nfrequency_hz = 5e9'))
    with pytest.raises(ConfigError, match="faster than the table"):
        run_inference(InferSpec(model="digits", limit=10, accelerator=acc), settings)


def test_sweep_in_process(settings, tmp_path, monkeypatch):
    from click.testing import CliRunner

    import cosim.simulate as infer_mod
    from cosim.cli import cli

    monkeypatch.setattr(infer_mod, "load_settings", lambda: settings)
    out = tmp_path / "sweep"
    r = CliRunner().invoke(cli, ["infer", "--limit", "60", "--out", str(out), "--jobs", "1",
                                 "--sweep", "tt/1.8/25,tt/1.6/25,ss/1.6/125"])
    assert r.exit_code == 0, r.output
    rows = json.loads((out / "sweep.json").read_text())
    assert [(x["process"], x["vdd"]) for x in rows] == [("ss", 1.6), ("tt", 1.6), ("tt", 1.8)]
    assert (out / "sweep_vs_vdd.png").is_file() and (out / "tt_1800mV_25C" / "report.json").is_file()
    ss = rows[0]
    assert ss["bit_error_rate"] > 0 and rows[1]["bit_error_rate"] == 0
    # the synthetic table's energy grows with vdd: so must the charged SRAM energy
    assert rows[2]["energy_per_inference_j"] > rows[1]["energy_per_inference_j"]


def test_parse_sweep_errors():
    from cosim.errors import ConfigError
    from cosim.report.cli import parse_sweep

    assert parse_sweep("tt/1.8/25, ff/1.95/-40")[1] == Corner("ff", 1.95, -40.0)
    with pytest.raises(ConfigError, match="process/vdd/temp"):
        parse_sweep("tt-1.8-25")
    with pytest.raises(ConfigError, match="grid needs"):
        parse_sweep("grid")


def test_batch_size_and_limit_below_one_refused(settings):
    from click.testing import CliRunner

    from cosim.cli import cli
    from cosim.errors import ConfigError

    for spec in (InferSpec(batch_size=0), InferSpec(limit=0)):
        with pytest.raises(ConfigError, match="at least 1 image"):
            run_inference(spec, settings)
    r = CliRunner().invoke(cli, ["infer", "--batch-size", "0"])
    assert r.exit_code != 0 and "--batch-size" in r.output


def test_missing_optional_package_is_one_line_naming_the_extra(monkeypatch, capsys):
    import cosim.cli as cli_mod

    def needs_dask(**_):
        raise ModuleNotFoundError("No module named 'distributed'", name="distributed")

    monkeypatch.setattr(cli_mod, "cli", needs_dask)
    with pytest.raises(SystemExit) as exc:
        cli_mod.main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cosim[dask]" in err


def test_make_clean_keeps_the_point_cache(tmp_path):
    import shutil
    import subprocess
    from pathlib import Path

    makefile = Path(__file__).resolve().parents[2] / "Makefile"
    for d in (".cache/points/sram_8x16", ".cache/runs/sram_8x16", ".cache/models", "out/infer"):
        (tmp_path / d).mkdir(parents=True)
        (tmp_path / d / "f").write_text("x")
    if shutil.which("make") is None:
        pytest.fail("make is not installed")
    subprocess.run(["make", "-s", "-f", str(makefile), "clean"], cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / ".cache/points/sram_8x16/f").is_file()
    assert not (tmp_path / "out").exists() and not (tmp_path / ".cache/runs").exists()
    assert not (tmp_path / ".cache/models").exists()
    subprocess.run(["make", "-s", "-f", str(makefile), "distclean", "VENV=venv-none"], cwd=tmp_path, check=True,
                   capture_output=True)
    assert not (tmp_path / ".cache").exists()


def test_sweep_marks_a_corner_the_table_refuses_and_goes_on(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import importlib

    infer_mod = importlib.import_module("cosim.simulate")
    from cosim.cli import cli

    d = tmp_path / "characterization"
    d.mkdir()
    write_table(d, macro="sram_32x512", num_words=512, word_size=32)
    monkeypatch.setattr(infer_mod, "load_settings", lambda: replace(load_settings(), characterization_dir=d))
    out = tmp_path / "sweep"
    r = CliRunner().invoke(cli, ["infer", "--limit", "20", "--out", str(out), "--jobs", "1",
                                 "--sweep", "tt/1.8/25,ss/1.0/125"])  # 1.0 V: outside the table, refused
    assert r.exit_code == 0, r.output
    rows = json.loads((out / "sweep.json").read_text())
    refused = [x for x in rows if not x["usable"]]
    assert len(refused) == 1 and refused[0]["process"] == "ss" and "never extrapolate" in refused[0]["reason"]
    assert refused[0]["status"] == "unusable: not in the table" and "accuracy" not in refused[0]
    assert [x["status"] for x in rows if x["usable"]] == ["ok"]
    assert "UNUSABLE: NOT IN THE TABLE" in r.output and (out / "sweep_vs_vdd.png").is_file()


def test_sweep_over_chip_instances(settings, tmp_path, monkeypatch):
    # three chips per corner: where the table gives failures (ss/1.6/125) their fault maps differ, so do their
    # accuracies; where it gives none (tt/1.8/25) every chip computes the same
    from click.testing import CliRunner

    import cosim.simulate as infer_mod
    from cosim.cli import cli

    monkeypatch.setattr(infer_mod, "load_settings", lambda: settings)
    out = tmp_path / "chips"
    r = CliRunner().invoke(cli, ["infer", "--limit", "60", "--out", str(out), "--jobs", "1", "--chips", "3",
                                 "--sweep", "tt/1.8/25,ss/1.6/125"])
    assert r.exit_code == 0, r.output
    rows = {x["process"]: x for x in json.loads((out / "sweep.json").read_text())}
    ss, tt = rows["ss"], rows["tt"]
    assert ss["chips"] == tt["chips"] == 3 and ss["fault_model"] == "map"
    assert len(set(ss["bits_flipped_by_chip"])) == 3 and min(ss["bits_flipped_by_chip"]) > 0
    assert ss["accuracy_min"] <= ss["accuracy_mean"] <= ss["accuracy_max"]
    assert ss["accuracy_mean"] == pytest.approx(np.mean(ss["accuracy_by_chip"]))
    assert tt["bits_flipped_by_chip"] == [0, 0, 0] and tt["accuracy_std"] == 0.0
    assert "no Monte Carlo table" in tt["fault_source"]
    assert (out / "ss_1600mV_125C" / "report.json").is_file() and (out / "sweep_vs_vdd.png").is_file()
    assert "chips:" in r.output
