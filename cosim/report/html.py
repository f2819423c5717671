"""report.html: one self-contained page per run (plots inline as base64 PNG) that a designer reads at a glance.

It renders report.json's dict and nothing else, so the page can never say more than the JSON beside it.
"""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path

import jinja2

from cosim.memory.ledger import COMPONENTS
from cosim.report.units import bytes_, eng

_LABELS = {"sram_read_j": "SRAM read", "sram_write_j": "SRAM write", "idle_j": "SRAM idle (clocked, no access)",
           "leakage_j": "SRAM leakage (gated / stalled)", "offchip_j": "off-chip transfers",
           "compute_j": "MAC array", "model_load_j": "weights preload (amortized)"}

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>cosim: {{ r.model }} on {{ r.dataset }}, {{ corner }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 1.5em auto; color: #222; padding: 0 1em; }
h1 { font-size: 1.4em; margin-bottom: .2em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; font-size: .9em; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.kpis { display: flex; flex-wrap: wrap; gap: .6em; }
.kpi { border: 1px solid #ccc; border-radius: 6px; padding: .5em .9em; min-width: 10em; }
.kpi b { display: block; font-size: 1.3em; } .kpi span { color: #666; font-size: .8em; }
.warn { background: #fff3cd; border: 1px solid #e0b000; padding: .6em 1em; border-radius: 6px; }
.ok { background: #e8f5e9; border: 1px solid #6a6; padding: .6em 1em; border-radius: 6px; }
.lit { color: #8a5a00; } .failed { background: #f8d7da; } .used { background: #d7e8f8; font-weight: bold; }
img { max-width: 100%; border: 1px solid #eee; margin: .4em 0; } code { font-size: .9em; }
.grid td { text-align: center; font-size: .8em; min-width: 3.5em; }
</style></head><body>
<h1>{{ r.model }} on {{ r.dataset }} ({{ r.n_images }} images) &mdash; {{ corner }}</h1>
<div>weights in {{ m.weights.banks }} &times; {{ m.weights.macro }}, activations in {{ m.activations.banks }} &times;
{{ m.activations.macro }}; clock gating {{ "on" if m.clock_gating else "off" }};
{{ "interpolated between grid corners" if c.interpolated else "read at a grid corner of the table" }}</div>
{% if m.on_chip %}
<p class="ok">The model runs on chip: its weights ({{ w_need }}) are loaded once per run into {{ w_total }} of SRAM and
every layer's activations (largest {{ a_need }}) stay in {{ a_total }} of SRAM. SRAM is {{ sram_share }} of the energy
per inference, off-chip transfers {{ off_share }}.</p>
{% else %}
<p class="warn"><b>The model does not fit on chip.</b>
{% if not m.weights.fits %}Its weights ({{ w_need }}) exceed the weight SRAM ({{ w_total }}): layers
{{ m.layers_with_weights_tiled | join(", ") }} are tiled from off-chip memory for every image. {% endif %}
{% if not m.activations.fits %}Activations of layers {{ m.layers_with_activations_streamed | join(", ") }} (up to
{{ a_need }}) exceed the activation SRAM ({{ a_total }}) and stream through off-chip memory. {% endif %}
Off-chip transfers are <b>{{ off_share }}</b> of the energy per inference (a literature value, not SPICE). Add banks
(<code>--banks</code>) or choose a larger macro.</p>
{% endif %}
{% if r.corner_status.note %}<p class="warn"><b>Reads fail at this clock; a slower clock is used.</b>
{{ r.corner_status.note }}.</p>{% endif %}

<h2>Key figures (per inference)</h2>
<div class="kpis">
{% for label, value, note in kpis %}<div class="kpi"><span>{{ label }}</span><b>{{ value }}</b><span>{{ note }}</span></div>
{% endfor %}</div>

<h2>Energy per inference</h2>
<table><tr><th>component</th><th>energy</th><th>share</th><th>source</th></tr>
{% for label, value, share, kind in energy_rows %}<tr{% if kind == "literature" %} class="lit"{% endif %}>
<td>{{ label }}</td><td class="num">{{ value }}</td><td class="num">{{ share }}</td><td>{{ kind }}</td></tr>
{% endfor %}</table>
<p>SRAM figures are characterization-table rows (ngspice); rows marked literature are NOT SPICE-derived
(accelerator file: {{ r.dataflow.accelerator.offchip.energy_source }}; {{ r.dataflow.accelerator.compute.energy_source }}).</p>

{% for name, b64 in images %}<img alt="{{ name }}" src="data:image/png;base64,{{ b64 }}">
{% endfor %}

<h2>Memories</h2>
<table><tr><th>memory</th><th>macro</th><th>banks</th><th>per bank</th><th>total</th><th>needed</th><th>fits</th></tr>
{% for name in ("weights", "activations") %}{% set x = m[name] %}<tr><td>{{ name }}</td><td>{{ x.macro }}</td>
<td class="num">{{ x.banks }}</td><td class="num">{{ fmt_bytes(x.bank_bytes) }}</td><td class="num">{{ fmt_bytes(x.total_bytes) }}</td>
<td class="num">{{ fmt_bytes(x.needed_bytes) }} ({{ x.needed_note }})</td><td>{{ "yes" if x.fits else "NO" }}</td></tr>
{% endfor %}</table>

<h2>Per layer</h2>
<table><tr><th>layer</th><th>op</th><th>energy</th><th>latency</th><th>MACs</th><th>SRAM reads</th><th>SRAM writes</th>
<th>off-chip bytes</th><th>weights</th><th>activations</th></tr>
{% for L in r.per_layer %}<tr><td>{{ L.name }}</td><td>{{ L.op }}</td><td class="num">{{ fmt_j(L.energy_j) }}</td>
<td class="num">{{ fmt_s(L.latency_s) }}</td><td class="num">{{ L.macs }}</td><td class="num">{{ L.sram_reads }}</td>
<td class="num">{{ L.sram_writes }}</td><td class="num">{{ L.offchip_bytes }}</td>
<td>{{ "resident" if L.weights_resident else ("tiled, %d passes" % L.passes if L.weight_words else "-") }}</td>
<td>{{ L.activation_mode }}</td></tr>
{% endfor %}</table>

<h2>Characterization corners</h2>
<p>Each cell is a corner of the table (process, VDD, temperature). <span class="failed">&nbsp;red&nbsp;</span>: some
operation failed in simulation there (listed; no figure is taken from a failed row). <b>unusable</b>: its writes fail,
or its reads fail at every clock tried: a run there is refused, and so is one between grid points that disagree on
pass/fail. <b>slower clock</b>: reads pass only at the table's read_cycle period, which a run there is clocked at.
<span class="used">&nbsp;blue&nbsp;</span>: this run's figures came from that corner (the number is its interpolation
weight; 1 = read exactly at that grid point).</p>
{% for macro, grid in c.tables.items() %}<h3>{{ macro }}</h3>
{% for temp in temps[macro] %}<table class="grid"><tr><th>{{ temp }} &deg;C</th>{% for v in vdds[macro] %}<th>{{ v }} V</th>{% endfor %}</tr>
{% for p in procs[macro] %}<tr><th>{{ p }}</th>{% for v in vdds[macro] %}{% set g = cell.get((macro, p, v, temp)) %}
{% if g is none %}<td>not characterized</td>{% else %}
<td class="{{ 'used' if g.used_weight else ('failed' if g.failed_ops else '') }}"
title="{{ g.failed_ops | join(', ') }}">{% if g.used_weight %}{{ '%.2f' % g.used_weight }}{% endif %}
{% if g.status.startswith('unusable') %}<b>unusable</b>: {{ g.status[10:] }}{% elif g.failed_ops %}failed: {{ g.failed_ops | join(', ') }}{% elif g.status != 'ok' %}slower clock{% elif not g.used_weight %}ok{% endif %}</td>{% endif %}{% endfor %}</tr>
{% endfor %}</table>{% endfor %}{% endfor %}

<h2>Provenance</h2>
<table>
{% for macro, t in r.provenance.tables.items() %}
<tr><th>table {{ macro }}</th><td>{{ t.csv }}<br>csv sha256 <code>{{ t.csv_sha256 }}</code><br>ngspice {{ t.ngspice_version }},
created {{ t.created }}, {{ t.word_size }}-bit words &times; {{ t.num_words }}<br>models {{ short_models(t.models) }}</td></tr>
{% endfor %}
<tr><th>model</th><td>{{ r.provenance.model_file }}<br>file sha256 <code>{{ r.provenance.model_file_sha256 }}</code><br>
quantized weights sha256 <code>{{ r.provenance.model_sha256 }}</code></td></tr>
<tr><th>dataset</th><td>{{ r.provenance.dataset_source }}{% if r.provenance.limit %} (seeded subset of {{ r.provenance.limit }}){% endif %}</td></tr>
<tr><th>accelerator</th><td>{{ r.dataflow.accelerator.path }}</td></tr>
<tr><th>seeds</th><td>subset {{ r.provenance.seeds.subset }}, bit errors {{ r.provenance.seeds.bit_errors }}</td></tr>
<tr><th>cosim commit</th><td><code>{{ r.provenance.cosim_commit }}</code></td></tr>
</table>
<p>Every figure's source (table rows with interpolation weights, literature, data or derived) is listed under
<code>sources</code> in report.json beside this page.</p>
</body></html>
"""


def _share(x: float, total: float) -> str:
    return f"{100 * x / total:.1f} %" if total > 0 else "-"


def _short_models(models) -> str:
    """The model deck's source and library (the per-file list stays in report.json)."""
    if isinstance(models, dict):
        return ", ".join(f"{k} {models[k]}" for k in ("source", "library") if k in models) or "see report.json"
    return str(models)


def render_html(r: dict, pngs: list[Path] = ()) -> str:
    m, c = r["memory"], r["corners"]
    total = r["energy_per_inference_j"]
    energy_rows = [(_LABELS[k], eng(r[k], "J"), _share(r[k], total), r["sources"].get(k, {}).get("kind", "table"))
                   for k in (*COMPONENTS, "model_load_j")]
    energy_rows.append(("total", eng(total, "J"), "100 %", "derived"))
    ber = r["bit_errors"]
    kpis = [
        ("accuracy", f"{r['accuracy'] * 100:.2f} %", f"{r['n_images']} images; 95 % CI "
         f"{r['accuracy_ci95'][0] * 100:.1f}-{r['accuracy_ci95'][1] * 100:.1f} %"),
        ("energy / inference", eng(total, "J"),
         f"SRAM {m['sram_energy_share'] * 100:.1f} %, off-chip {m['offchip_energy_share'] * 100:.1f} %"),
        ("latency / inference", eng(r["latency_per_inference_s"], "s"),
         f"{r['throughput_inferences_per_s']:,.0f} inferences/s"),
        ("average power", eng(r["average_power_w"], "W"), "energy / latency"),
        ("clock", eng(r["clock_hz"], "Hz"), ("raised to read_cycle: reads fail faster" if r["corner_status"]["note"]
                                             else "from the table's min cycle")
         if r["dataflow"]["accelerator"]["clock"]["mode"] == "min_cycle" else "fixed, checked against the table"),
        ("on-chip SRAM", bytes_(m["total_bytes"]),
         f"{m['weights']['banks'] + m['activations']['banks']} banks"),
        ("bit errors", f"{ber['bits_flipped']} of {ber['bits_read_by_engine']} bits" if ber["fault_model"] != "none"
         else "none", {"map": f"chip {ber['chip']} fault map (Monte Carlo table)",
                       "per_access": "fresh flips per read (Monte Carlo table)"}.get(
            ber["fault_model"], next(iter(ber["memories"].values()))["source"] if ber["memories"] else "off")),
    ]
    images = [(p.stem, base64.b64encode(Path(p).read_bytes()).decode("ascii")) for p in pngs]
    cell, procs, vdds, temps = {}, {}, {}, {}
    for macro, grid in c["tables"].items():
        for g in grid:
            cell[(macro, g["process"], g["vdd_v"], g["temp_c"])] = g
        procs[macro] = list(dict.fromkeys(g["process"] for g in grid))
        vdds[macro] = sorted({g["vdd_v"] for g in grid})
        temps[macro] = sorted({g["temp_c"] for g in grid})
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_TEMPLATE).render(
        r=r, m=m, c=c, corner=f"{r['process']} {r['vdd']:g} V {r['temp_c']:g} °C", kpis=kpis, energy_rows=energy_rows,
        images=images, cell=cell, procs=procs, vdds=vdds, temps=temps,
        w_need=bytes_(m["weights"]["needed_bytes"]), w_total=bytes_(m["weights"]["total_bytes"]),
        a_need=bytes_(m["activations"]["needed_bytes"]), a_total=bytes_(m["activations"]["total_bytes"]),
        sram_share=f"{m['sram_energy_share'] * 100:.1f} %", off_share=f"{m['offchip_energy_share'] * 100:.1f} %",
        short_models=_short_models, fmt_bytes=bytes_, fmt_j=lambda x: eng(x, "J"), fmt_s=lambda x: eng(x, "s"))


def write_html(r: dict, path: Path, pngs: list[Path] = ()) -> Path:
    """Write the page next to report.json atomically (a temp file renamed into place: never half a page)."""
    path = Path(path)
    text = render_html(r, list(pngs))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".report-", suffix=".html.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
