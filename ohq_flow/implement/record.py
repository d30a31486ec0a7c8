"""The implementation record (final/impl/impl.json): what a tool run achieved, with latency and throughput."""

from __future__ import annotations

import json
from pathlib import Path

from ohq_flow.errors import InputError

IMPL_DIR = "final/impl"
IMPL_JSON = "final/impl/impl.json"
NETWORK_SIM = "final/verify/network_sim.json"


def _sim_record(run_dir: Path) -> dict:
    sim = run_dir / NETWORK_SIM
    if not sim.is_file():
        return {}
    try:
        return json.loads(sim.read_text())
    except json.JSONDecodeError:
        raise InputError(f"{sim} is not valid JSON", "run the build step again") from None


def _latency_cycles(run_dir: Path, spec) -> tuple[float | None, str | None]:
    """Simulated network latency (cycles) from final/verify/network_sim.json, else the generator's prediction."""
    value = _sim_record(run_dir).get("latency_cycles")
    if value is not None:
        return float(value), NETWORK_SIM
    if spec.predicted_latency_cycles is not None:
        return float(spec.predicted_latency_cycles), "design.json predicted_latency_cycles"
    return None, None


def impl_record(result: dict, spec, run_dir: Path, bitstream: Path | None) -> dict:
    """impl.json: the tool's result plus latency (ns) and throughput at the clock the design can run."""
    fmax, target = result.get("fmax_mhz"), result.get("target_mhz")
    clock = min(x for x in (fmax, target) if x) if (fmax or target) else None
    cycles, cycles_from = _latency_cycles(run_dir, spec)
    ii = _sim_record(run_dir).get("ii_cycles") or spec.predicted_ii_cycles     # simulated II first
    rec = {**result,
           "bitstream": str(bitstream.relative_to(run_dir)) if bitstream else None,
           "bitstream_bytes": bitstream.stat().st_size if bitstream else None,
           "latency_cycles": cycles, "latency_from": cycles_from,
           "latency_ns": round(cycles * 1000.0 / clock, 3) if cycles is not None and clock else None,
           "ii_cycles": ii,
           "throughput_fps": round(clock * 1e6 / ii, 1) if ii and clock else None}
    return rec


def utilisation_line(rec: dict, board) -> str:
    res = board.resources
    parts = [(rec.get("lut4", rec.get("lut")), res.lut, "LUT4" if board.is_ecp5 else "LUT"), (rec.get("ff"), res.ff, "FF"),
             (rec.get("mult18", rec.get("dsp")), res.dsp, "MULT18X18D" if board.is_ecp5 else "DSP"),
             (rec.get("dp16kd", rec.get("bram18")), res.bram18, "DP16KD" if board.is_ecp5 else "BRAM18")]
    return ", ".join(f"{n} {u:,}/{t:,} ({100 * u / t:.1f} %)" if t else f"{n} {u}" for u, t, n in parts if u is not None)


def format_impl(rec: dict, board) -> str:
    """The lines the user sees at the end of the step."""
    lines = [f"implementation on {board.name} ({rec.get('device')}) with {rec.get('tool')} {rec.get('tool_version', '')}"]
    if rec.get("fmax_mhz") is not None:
        lines.append(f"post-route Fmax {rec['fmax_mhz']:.1f} MHz, target {rec['target_mhz']:g} MHz: "
                     + ("timing met" if rec["timing_met"] else "*** TIMING NOT MET ***"))
    lines.append("utilisation: " + utilisation_line(rec, board))
    if rec.get("latency_ns") is not None:
        lines.append(f"latency {rec['latency_cycles']:g} cycles = {rec['latency_ns']:g} ns at "
                     f"{min(rec['fmax_mhz'], rec['target_mhz']):g} MHz ({rec['latency_from']})")
    if rec.get("throughput_fps"):
        lines.append(f"throughput {rec['throughput_fps']:,.0f} frames/s (II {rec['ii_cycles']:g} cycles)")
    if rec.get("bitstream"):
        lines.append(f"bitstream: {rec['bitstream']} ({rec['bitstream_bytes']:,} bytes)"
                     + ("" if rec.get("timing_met", True) else " — built, but timing is NOT met"))
    return "\n".join(lines)
