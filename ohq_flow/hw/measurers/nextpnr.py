"""The ``nextpnr`` measurer (ECP5 boards): each layer candidate's da4ml kernel synthesised by Yosys
``synth_ecp5`` and placed and routed out of context by nextpnr-ecp5 -> LUT4 (TRELLIS_COMB), FF,
MULT18X18D, DP16KD and the post-route Fmax; fidelity ``post_route``.

Place and route takes seconds for a small kernel and minutes for a large one: pick it for small
layers with a rule, e.g. ``{measurer: nextpnr, max_weights: 1024}`` before the yosys rule.
:func:`measure_nextpnr` (sources -> result) and :func:`cost_layer` (payload -> CostRow) are plain
functions a benchmark can call without the job runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from ohq_flow.errors import InputError
from ohq_flow.hw.measurers.base import Measurer

SEED = 1
ROUTER = "router2"


@dataclass
class NextpnrResult:
    lut4: int                  # TRELLIS_COMB (LUT4 and carry halves)
    ff: int
    mult18: int
    dp16kd: int
    fmax_mhz: float | None     # None: no clocked path (a combinational kernel)
    versions: dict
    seconds: float
    log_path: Path


def _tools() -> tuple[str, str]:
    from ohq_flow.hw.rtl.yosys import find_yosys
    from ohq_flow.implement.ecp5 import NEXTPNR, find_yowasp
    return find_yosys(), find_yowasp(NEXTPNR)


def _version() -> str:
    from ohq_flow.hw.rtl.yosys import yosys_version
    from ohq_flow.implement.ecp5 import tool_version
    yosys, nextpnr = _tools()
    return f"yosys {yosys_version(yosys)}; {tool_version(nextpnr)}; seed {SEED}, {ROUTER}"   # the procedure is keyed too


def require_ecp5_board(board) -> None:
    """InputError unless ``board`` is a Lattice ECP5 board with nextpnr device flags."""
    if not board.is_ecp5:
        raise InputError(f"the nextpnr measurer places and routes for Lattice ECP5 only; board {board.name} is "
                         f"{board.family} ({board.part})",
                         "use yosys / da4ml_estimate for this board, or pick an ECP5 board (ohq-flow boards)")


def _payload(cfg) -> dict:
    board = cfg.board_obj()
    require_ecp5_board(board)
    return {"nextpnr_args": board.ecp5.nextpnr_args()}


def measure_nextpnr(sources: list[Path], top: str, *, nextpnr_args: list[str], clock_mhz: float, work_dir: Path,
                    timeout_s: float, part: str = "ECP5") -> NextpnrResult:
    """Synthesise ``sources`` (top ``top``) with synth_ecp5 and place and route them out of context
    (:func:`ohq_flow.implement.ooc.ooc_device` with this measurer's seed and router)."""
    from ohq_flow.hw.rtl.yosys import TOP
    from ohq_flow.implement.ecp5 import Ecp5Settings
    from ohq_flow.implement.ooc import ooc_device

    if not TOP.match(top):
        raise InputError(f"top module name {top!r} is not a plain Verilog identifier")
    res = ooc_device(sources, top, nextpnr_args, part, work_dir, target_mhz=clock_mhz,
                     settings=Ecp5Settings(seed=SEED, router=ROUTER, timeout_s=timeout_s))
    return NextpnrResult(lut4=int(res["lut4"] or 0), ff=int(res["ff"] or 0), mult18=int(res["mult18"] or 0),
                         dp16kd=int(res["dp16kd"]), fmax_mhz=res["fmax_mhz"], versions=res["versions"],
                         seconds=round(sum(res["seconds"].values()), 3), log_path=Path(res["log"]))


def cost_layer(p, work_dir: Path, timeout_s: float):
    """The CostRow of one layer candidate (a :class:`~ohq_flow.hw.profile.LayerHW`), placed and routed."""
    from ohq_flow.hw.generators.da4ml import generate_cmvm_rtl
    from ohq_flow.hw.measurers.yosys import check_not_empty
    from ohq_flow.hw.profile import streaming
    if not p.extra.get("nextpnr_args"):
        raise InputError(f"layer {p.layer}: the nextpnr measurer needs an ECP5 board's nextpnr flags",
                         "choose an ECP5 board (ohq-flow boards)")
    design = generate_cmvm_rtl(p.w_int, w_bits=p.w_bits, a_bits=p.a_bits, a_signed=p.a_signed, out_dir=work_dir / "rtl",
                               latency_cutoff=p.latency_cutoff, part=p.part, clock_ns=p.clock_ns)
    srcs = [s for s in design.sources if not s.name.endswith("_wrapper.v")]
    res = measure_nextpnr(srcs, design.top, nextpnr_args=list(p.extra["nextpnr_args"]), clock_mhz=1000.0 / p.clock_ns,
                          work_dir=work_dir / "pnr", timeout_s=timeout_s, part=p.part)
    check_not_empty(SimpleNamespace(lut=res.lut4, ff=res.ff, dsp=res.mult18, carry=0, bram18=res.dp16kd,
                                    log_path=res.log_path), p)
    row = MEASURER.row(p, latency_cycles=float(design.latency_cycles), ii_cycles=1.0, lut=float(res.lut4), ff=float(res.ff),
                       dsp=float(res.mult18), bram18=float(res.dp16kd), uram=0.0, fmax_mhz=res.fmax_mhz,
                       tool="nextpnr-ecp5", tool_version=f"yosys {res.versions['yosys']}; {res.versions['nextpnr']}",
                       log_path=str(res.log_path))
    return streaming(row, p.pixels)


def run(ctx):
    """The job function: payload -> placed-and-routed CostRow."""
    from ohq_flow.hw.profile import LayerHW
    return cost_layer(LayerHW.from_json(ctx.payload), ctx.workdir, ctx.remaining_s())


MEASURER = Measurer(name="nextpnr", fidelity="post_route", run=run, version=_version, key_settings=("latency_cutoff",),
                    key_templates=("yosys/synth_ecp5.ys",), tool="yosys", tool_hint="apt-get install yosys",
                    check_board=require_ecp5_board, payload=_payload, generator="da4ml")
