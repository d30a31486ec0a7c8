"""The Yosys measurer: ``synth_xilinx`` (``synth_ecp5`` for family ecp5) of a design -> LUT/FF/CARRY/DSP/BRAM,
logic depth, timing estimate.

The script comes from ``templates/yosys/synth_xilinx.ys``. Yosys has no Xilinx timing model, so
the clock period is an *estimate* from the logic depth (LUT levels incl. carry cells after
flip-flops are removed): ``t = T0 + depth × T_LEVEL`` with T0/T_LEVEL per family below
(typical LUT + local routing delay of a speed-grade -1/-2 device, an assumption, not a
measurement). Rows from this measurer have fidelity ``post_synth`` for resources; the clock is
labelled an estimate.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import signal
import string
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ohq_flow.errors import FlowError, InputError
from ohq_flow.fileio import atomic_write_text, sha256_file, sha256_json
from ohq_flow.hw.tools import run_tool
from ohq_flow.resources import TEMPLATES

TEMPLATE = TEMPLATES / "yosys" / "synth_xilinx.ys"
ECP5_TEMPLATE = TEMPLATE.with_name("synth_ecp5_ooc.ys")     # family "ecp5": synth_ecp5, LUT4 fabric
# (clock-to-out + setup, per logic level) in ns — assumptions documented above; ecp5 fitted to
# post-route nextpnr-ecp5 Fmax of da4ml kernels at speed grade 6 (docs/notes/impl.md)
LEVEL_DELAY_NS = {"xc7": (1.0, 0.55), "xcup": (0.6, 0.35), "xcu": (0.7, 0.4), "ecp5": (1.0, 1.1)}


def _template(family: str) -> Path:
    return ECP5_TEMPLATE if family == "ecp5" else TEMPLATE


@dataclass
class YosysResult:
    lut: int
    ff: int
    carry: int
    dsp: int
    bram18: float
    depth: int
    est_clock_ns: float
    cells: dict
    version: str
    seconds: float
    log_path: Path
    lutram: int = 0         # LUTs used as distributed RAM / shift registers, included in ``lut``


# xc7 distributed RAM and shift-register cells -> the LUTs (SLICEM) each occupies; counted in ``lut`` as Vivado's
# "Slice LUTs" counts "LUT as Memory" (the ecp5 count includes TRELLIS_DPR16X4 the same way)
LUTRAM_LUTS = {"RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8, "RAM16X1D": 2, "RAM32X1D": 2, "RAM64X1D": 2,
               "RAM128X1D": 4, "RAM16X1S": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
               "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1}
# part of the cache key of a whole-design record: what a count means (2: LUTs include LUTRAM/SRL cells)
COUNTING = 2


def find_yosys() -> str:
    """The yosys binary: on PATH (Debian's, the fastest here), else pyosys' bundled one."""
    path = shutil.which("yosys")
    if path:
        return path
    raise InputError("yosys is not installed", "make demo/test installs it (apt-get install yosys), or pip install pyosys")


VERSION_TIMEOUT_S = 30.0


@lru_cache(maxsize=4)
def yosys_version(binary: str | None = None, timeout_s: float = VERSION_TIMEOUT_S) -> str:
    """``yosys -V``; FlowError when it hangs (its whole process group is killed, nothing is left behind)."""
    binary = binary or find_yosys()
    proc = subprocess.Popen([binary, "-V"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise FlowError(f"`{binary} -V` did not answer within {timeout_s:g} s (killed)",
                        "check the yosys installation (run `yosys -V` by hand)") from None
    m = re.search(r"Yosys\s+([\w.+-]+)", out)
    return m.group(1) if m else out.strip()


# what reaches the Yosys script: one word each, nothing Yosys' command parser could split or interpret
SCRIPT_WORD = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_./+-]*$")
TOP = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def script_sources(sources: list[Path], work_dir: Path, copies: str = "src") -> list[str]:
    """Source names as the script (run with cwd=work_dir) reads them: relative and plain.

    Yosys splits script lines on blanks and treats ``#`` / ``;`` specially, and it has no quoting
    we can rely on, so a source whose relative path is not a plain word is copied into
    ``work_dir/<copies>/`` under a plain name; Yosys then reads the file verbatim whatever its path.
    """
    out = []
    for i, src in enumerate(sources):
        src = Path(src).resolve()
        rel = os.path.relpath(src, work_dir)
        if not SCRIPT_WORD.match(rel):
            stem = re.sub(r"[^A-Za-z0-9_]", "_", src.stem)[:40] or "src"
            dst = work_dir / copies / f"{i}_{stem}{src.suffix if SCRIPT_WORD.match(src.suffix or 'x') else '.v'}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            rel = os.path.relpath(dst, work_dir)
        out.append(rel)
    return out


def family_for_part(part: str) -> str:
    """synth_xilinx -family for an AMD part: 7-series -> xc7, UltraScale+ (Zynq MPSoC, Kria, Alveo) -> xcup."""
    return "xc7" if part.lower().startswith(("xc7", "xa7", "xq7")) else "xcup"


def _cells(stat: dict) -> dict:
    design = stat.get("design") or {}
    cells = design.get("num_cells_by_type")
    if cells is None:
        modules = stat.get("modules") or {}
        cells = {}
        for m in modules.values():
            for k, v in (m.get("num_cells_by_type") or {}).items():
                cells[k] = cells.get(k, 0) + v
    return cells


def resource_counts(cells: dict, family: str) -> dict:
    """{lut (incl. lutram), lutram, ff, carry, dsp, bram18} from Yosys' cell counts (``stat -json``) for ``family``."""
    n = lambda pat: sum(v for k, v in cells.items() if re.fullmatch(pat, k))
    if family == "ecp5":   # LUT4-equivalent logic cells as nextpnr counts them (TRELLIS_COMB)
        carry = cells.get("CCU2C", 0)
        lutram = 2 * cells.get("TRELLIS_DPR16X4", 0)
        return {"lut": cells.get("LUT4", 0) + 2 * carry + lutram, "lutram": lutram, "ff": cells.get("TRELLIS_FF", 0),
                "carry": carry, "dsp": cells.get("MULT18X18D", 0), "bram18": float(cells.get("DP16KD", 0))}
    lutram = sum(LUTRAM_LUTS.get(k, 0) * v for k, v in cells.items())
    return {"lut": n(r"LUT[1-6]") + lutram, "lutram": lutram, "ff": n(r"FD[A-Z]*"), "carry": n(r"CARRY.*"),
            "dsp": n(r"DSP48.*"), "bram18": float(n(r"RAMB18.*") + 2 * n(r"RAMB36.*"))}


def measure_yosys(sources: list[Path], top: str, *, family: str, work_dir: Path, timeout_s: float,
                  yosys: str | None = None, blackboxes: list[Path] = ()) -> YosysResult:
    """Synthesise ``sources`` (top ``top``) for ``family``; parse resources and depth.

    ``blackboxes``: files whose modules are read as empty black boxes (``read_verilog -lib``): only their
    ports are known, nothing inside them is synthesised or counted (the glue around kernels synthesised
    on their own)."""
    binary = yosys or find_yosys()
    if family not in LEVEL_DELAY_NS:
        raise InputError(f"yosys family {family!r} is not one of {', '.join(LEVEL_DELAY_NS)}",
                         "set yosys_family in the board file to xc7 (7-series) or xcup (UltraScale+)")
    if not TOP.match(top):
        raise InputError(f"top module name {top!r} is not a plain Verilog identifier")
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    stat_json = work_dir / "yosys_stat.json"
    stat_json.unlink(missing_ok=True)            # never read the statistics of an earlier run
    script = string.Template(_template(family).read_text()).substitute(
        sources=" ".join(script_sources(sources, work_dir)), family=family, top=top, stat_json=stat_json.name)
    if blackboxes:
        script = f"read_verilog -lib {' '.join(script_sources(blackboxes, work_dir, 'lib'))}\n" + script
    script_path = work_dir / "synth.ys"
    atomic_write_text(script_path, script)        # replaces whatever is there (a symlink too)
    log_path = work_dir / "yosys.log"
    res = run_tool([binary, "-q", "-l", log_path.with_suffix(".full.log").name, "-s", script_path.name],
                   log_path=log_path, timeout_s=timeout_s, cwd=work_dir)
    if not stat_json.is_file():
        raise FlowError(f"yosys wrote no statistics ({stat_json}); log: {log_path}")
    cells = _cells(json.loads(stat_json.read_text()))
    full = log_path.with_suffix(".full.log").read_text(errors="replace")
    depth = re.findall(r"Longest topological path in \S+ \(length=(\d+)\)", full)
    if not depth:
        raise FlowError(f"yosys printed no logic depth (ltp); log: {log_path.with_suffix('.full.log')}")
    c = resource_counts(cells, family)
    d = max(int(x) for x in depth)
    return YosysResult(c["lut"], c["ff"], c["carry"], c["dsp"], c["bram18"], d, round(depth_delay_ns(d, family), 3), cells,
                       yosys_version(binary), res.elapsed_s, log_path.with_suffix(".full.log"), c["lutram"])


def depth_delay_ns(levels: int, family: str) -> float:
    """The clock period (ns) of a path of ``levels`` logic levels in ``family`` (the depth model)."""
    t0, per_level = LEVEL_DELAY_NS.get(family, LEVEL_DELAY_NS["xc7"])
    return t0 + per_level * levels


def _checked(res: YosysResult) -> YosysResult:
    """``res`` when every count is a finite number >= 0 (ValueError otherwise)."""
    for name in ("lut", "ff", "carry", "dsp", "bram18", "depth", "est_clock_ns"):
        v = getattr(res, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{name}={v!r}")
    return res


def measure_yosys_cached(sources: list[Path], top: str, *, family: str, work_dir: Path, timeout_s: float,
                         cache_dir: Path, yosys: str | None = None, blackboxes: list[Path] = ()) -> tuple[YosysResult, bool]:
    """:func:`measure_yosys`, remembered in the content cache (:mod:`ohq_flow.hw.cache`, record kind
    ``designs``) by the content of the sources (and black boxes), the top, the family, the script template and the
    Yosys version. Returns (result, from_cache)."""
    from ohq_flow.hw.cache import CostCache
    binary = yosys or find_yosys()
    key = sha256_json({"sources": sorted(sha256_file(Path(x)) for x in sources), "top": top, "family": family,
                       "template": sha256_file(_template(family)), "yosys": yosys_version(binary), "counting": COUNTING,
                       **({"blackboxes": sorted(sha256_file(Path(x)) for x in blackboxes)} if blackboxes else {})})
    cache = CostCache(cache_dir)
    data = cache.get_record("designs", key)
    if data is not None:
        try:
            return _checked(YosysResult(**{**data, "log_path": Path(data["log_path"])})), True
        except (ValueError, TypeError, KeyError):
            cache.drop_record("designs", key)      # an impossible entry is measured again
    res = measure_yosys(sources, top, family=family, work_dir=work_dir, timeout_s=timeout_s, yosys=binary,
                        blackboxes=blackboxes)
    cache.put_record("designs", key, {**dataclasses.asdict(res), "log_path": str(res.log_path)})
    return res, False
