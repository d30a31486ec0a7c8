"""The one typed config of a run (``FlowConfig``), loaded from YAML and validated up front.

Every problem is collected and reported at once, each with its YAML path
(``search.weight_bits[2]``) and a fix hint; unknown keys are errors with "did you mean".
Relative paths in the config are relative to the config file's directory.
"""

from __future__ import annotations

import difflib
import math
import re
import typing
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, PrivateAttr, ValidationError,
                      ValidationInfo, field_validator, model_validator)

from ohq_flow.errors import ConfigError, InputError
from ohq_flow.hw.measurers import NAMES as MEASURER_NAMES
from ohq_flow.metrics import BUDGETABLE, METRICS, PERCENT, RESOURCES, SWEEP, SWEEP_HINT

MIN_BITS, MAX_BITS = 1, 16
BUDGET_METRICS = METRICS
Bits = Annotated[int, Field(ge=MIN_BITS, le=MAX_BITS)]
MAX_CONFIG_BYTES = 4 << 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, use_enum_values=True)


def _base_dir(info: ValidationInfo) -> Path:
    ctx = info.context or {}
    return Path(ctx.get("base_dir", "."))


def check_path_text(path: str | Path) -> None:
    """Refuse a path with control characters (newline, tab, ...): such a name can break out of a tool
    script or a log line; no real project needs one."""
    bad = sorted({repr(c) for c in str(path) if ord(c) < 32 or ord(c) == 127})
    if bad:
        raise ValueError(f"path {str(path)!r} contains control characters ({', '.join(bad)}); rename it")


def _resolve(path: Path | None, info: ValidationInfo) -> Path | None:
    if path is None:
        return None
    check_path_text(path)
    path = Path(path).expanduser()
    return path if path.is_absolute() else (_base_dir(info) / path).resolve()


def _check_bits(values: list[int]) -> list[int]:
    if len(set(values)) != len(values):
        raise ValueError(f"bit-widths listed twice: {sorted({b for b in values if values.count(b) > 1})}")
    return sorted(values)


# --------------------------------------------------------------------------------------- model
class BrevitasSource(_Strict):
    """A Brevitas (PyTorch) module built by a factory function."""

    factory: str = Field(description='"package.module:function" returning a torch.nn.Module')
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the factory")
    checkpoint: Path | None = Field(None, description="state dict (.pt/.pth) loaded into the module")
    input_shape: list[PositiveInt] = Field(description="input shape with batch dimension, e.g. [1, 1, 8, 8]")
    python_path: list[Path] = Field(default_factory=list,
                                    description="extra import directories for the factory (default: the config's directory)")

    @field_validator("factory")
    @classmethod
    def _factory_form(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", v.strip()):
            raise ValueError(f"factory must look like 'package.module:function', got {v!r}")
        return v.strip()

    @field_validator("checkpoint")
    @classmethod
    def _checkpoint_exists(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        v = _resolve(v, info)
        if v is not None and not v.is_file():
            raise ValueError(f"checkpoint file {v} does not exist (train it first, e.g. `make demo` trains the digits example)")
        return v

    @field_validator("python_path")
    @classmethod
    def _paths(cls, v: list[Path], info: ValidationInfo) -> list[Path]:
        return [_resolve(p, info) for p in v] or [_base_dir(info).resolve()]

    @field_validator("input_shape")
    @classmethod
    def _shape(cls, v: list[int]) -> list[int]:
        if len(v) < 2:
            raise ValueError("input_shape needs a batch dimension and at least one more, e.g. [1, 784]")
        return v


class InputType(_Strict):
    """The datatype of a model input that goes straight into a layer (no Quant node): real value = (q - zero_point) * scale."""

    bits: int = Field(ge=1, le=MAX_BITS, description="bits of the integer q (1 with bipolar: +-1)")
    signed: bool = Field(description="q is two's complement (signed) or unsigned")
    bipolar: bool = Field(False, description="q is -1 or +1 (then bits: 1, signed: true)")
    scale: float = Field(1.0, description="real value of one step of q (> 0)")
    zero_point: int = Field(0, description="integer subtracted from q (0 unless the input is unsigned with an offset)")

    @field_validator("scale")
    @classmethod
    def _scale(cls, v: float) -> float:
        import math
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"scale {v!r} must be a finite number > 0")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "InputType":
        if self.bipolar and (self.bits != 1 or not self.signed):
            raise ValueError(f"bipolar: true (+-1) needs bits: 1 and signed: true (got bits: {self.bits}, "
                             f"signed: {str(self.signed).lower()})")
        if self.bits == 1 and self.signed and not self.bipolar:
            raise ValueError("bits: 1 with signed: true is not a useful input type; set bipolar: true for +-1, or "
                             "signed: false for 0/1")
        if self.bipolar and self.zero_point:
            raise ValueError("bipolar: true takes no zero_point")
        lo, hi = (-(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1) if self.signed else (0, (1 << self.bits) - 1)
        if not self.bipolar and not lo <= self.zero_point <= hi:
            raise ValueError(f"zero_point {self.zero_point} is outside the {self.bits}-bit "
                             f"{'signed' if self.signed else 'unsigned'} range {lo}..{hi}")
        return self


class ModelSection(_Strict):
    """Exactly one of ``brevitas`` or ``qonnx``."""

    brevitas: BrevitasSource | None = None
    qonnx: Path | None = Field(None, description="path of a QONNX .onnx file")
    input: InputType | None = Field(None, description="datatype of a model input that goes straight into a "
                                    "Gemm/MatMul/Conv with no Quant node (else read from the QONNX tensor datatype "
                                    "annotation): {bits, signed, bipolar, scale, zero_point}")

    @field_validator("qonnx")
    @classmethod
    def _qonnx_exists(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        v = _resolve(v, info)
        if v is not None and not v.is_file():
            raise ValueError(f"QONNX file {v} does not exist")
        return v

    @model_validator(mode="after")
    def _exactly_one(self) -> "ModelSection":
        if (self.brevitas is None) == (self.qonnx is None):
            raise ValueError("give exactly one of 'brevitas' (factory, input_shape, ...) or 'qonnx' (a file path)")
        return self


# -------------------------------------------------------------------------------------- search
class PinnedBits(_Strict):
    w_bits: int = Field(ge=MIN_BITS, le=MAX_BITS)
    a_bits: int = Field(ge=MIN_BITS, le=MAX_BITS)


class LayerOverride(_Strict):
    """Candidate bit-widths for the layers matching ``layers`` (names or glob patterns)."""

    layers: list[str] = Field(min_length=1)
    weight_bits: list[Bits] | None = None
    act_bits: list[Bits] | None = None

    @field_validator("layers", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("weight_bits", "act_bits")
    @classmethod
    def _bits(cls, v: list[int] | None) -> list[int] | None:
        return None if v is None else _check_bits(v)


class SearchSection(_Strict):
    """The candidate bit-widths of every layer."""

    weight_bits: list[Bits] = Field(default_factory=lambda: [2, 3, 4, 5, 6, 7, 8], min_length=1)
    act_bits: list[Bits] = Field(default_factory=lambda: [8], min_length=1,
                                description="input-activation bit-widths searched per layer")
    overrides: list[LayerOverride] = Field(default_factory=list)
    pinned: dict[str, PinnedBits] = Field(default_factory=dict, description="layer -> fixed bit-widths")
    tied: list[list[str]] = Field(default_factory=list,
                                  description="extra groups of layers that must take equal activation bits "
                                              "(layers sharing one quantizer are tied automatically)")
    unquantized_input_bits: int = Field(8, ge=MIN_BITS, le=MAX_BITS,
                                        description="activation width assumed in hardware for a layer whose input has no quantizer")
    folds: Union[Literal["off", "auto"], list[str]] = Field(
        "off", description="parallelism candidates per layer: off (one per bits; layers past unroll_max_weights are "
                           "folded anyway), auto (every layer also gets PE x SIMD folds, Pareto-pruned by the design's "
                           "price), or labels like ['pe2_simd4'] checked against each layer's dimensions")
    max_folds: PositiveInt = Field(6, description="at most this many folds per layer and bit-width (auto)")
    unroll_max_weights: PositiveInt = Field(4096, description="with the complete design (build.design), a layer with "
                                            "more weights (per group) is too large to unroll: its candidates are "
                                            "PE x SIMD folds only (a folded unit, ohq_mvau.v), chosen by the ILP")
    max_lanes: PositiveInt = Field(256, description="the most PE x SIMD lanes of a folded candidate")

    @field_validator("folds")
    @classmethod
    def _folds(cls, v):
        if isinstance(v, list):
            if not v:
                raise ValueError("folds: give 'off', 'auto' or a non-empty list like ['pe2_simd4', 'px2']")
            for label in v:
                if re.fullmatch(r"px[1-9]\d*", label):
                    raise ValueError(f"fold {label!r}: parallel-pixel folds are not generated by the complete design "
                                     "(give PE x SIMD folds like 'pe4_simd8')")
                if not re.fullmatch(r"pe[1-9]\d*_simd[1-9]\d*", label):
                    raise ValueError(f"fold {label!r} is not like 'pe4_simd8'")
        return v

    @field_validator("weight_bits", "act_bits")
    @classmethod
    def _bits(cls, v: list[int]) -> list[int]:
        return _check_bits(v)

    @field_validator("tied")
    @classmethod
    def _groups(cls, v: list[list[str]]) -> list[list[str]]:
        for g in v:
            if len(g) < 2:
                raise ValueError(f"a tied group needs at least two layers, got {g}")
        return v


# ------------------------------------------------------------------------------------------ mqe
class InputGenerator(str, Enum):
    gaussian = "gaussian"
    uniform = "uniform"
    distilled = "distilled"
    npz = "npz"


class MQESection(_Strict):
    """Data-free sensitivity: synthetic inputs, masking, divergence."""

    samples: Union[PositiveInt, Literal["auto"]] = Field(32, description="synthetic inputs, or auto: add samples "
                                                        "until the layer ranking is stable (docs/scale.md)")
    max_samples: PositiveInt = Field(64, description="samples: auto stops here")
    stability: float = Field(0.95, gt=0, le=1, description="samples: auto: Spearman of the rankings at n and 2n samples")
    seed: int = 0
    inputs: InputGenerator = InputGenerator.gaussian
    mean: list[float] = Field(default_factory=lambda: [0.0], description="per-channel mean (one value = all channels)")
    std: list[float] = Field(default_factory=lambda: [1.0], description="per-channel std")
    low: float | None = Field(None, description="uniform generator: lower bound (default: input quantizer range)")
    high: float | None = Field(None, description="uniform generator: upper bound")
    npz: Path | None = Field(None, description="calibration inputs (.npz), used when inputs: npz")
    npz_key: str = "x"
    distill_steps: PositiveInt = 200
    metric: Literal["kl", "mse"] = Field("mse", description="the damage shown in the sensitivity plot and checked "
                                         "by the health checks (both are always computed)")
    reference: Literal["as_given", "float", "int8"] = "as_given"
    executor: Literal["qonnx", "fast"] = Field("fast", description="fast = vectorised path, checked against the QONNX executor")
    modes: list[Literal["joint", "weight_only", "act_only"]] = Field(default_factory=lambda: ["joint"])
    joint_eval: Literal["full", "separable"] = Field("full", description="separable: joint damage from weight-only and "
                                                     "activation-only masks plus one measured interaction per layer "
                                                     "(|W|+|A|+1 runs instead of |W|·|A|; docs/scale.md)")
    workers: PositiveInt | None = Field(None, description="processes (default: all cores)")

    @field_validator("std")
    @classmethod
    def _std(cls, v: list[float]) -> list[float]:
        if any(s <= 0 for s in v):
            raise ValueError("std values must be > 0")
        return v

    @field_validator("npz")
    @classmethod
    def _npz(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        v = _resolve(v, info)
        if v is not None and not v.is_file():
            raise ValueError(f"calibration file {v} does not exist")
        return v

    @model_validator(mode="after")
    def _npz_needed(self) -> "MQESection":
        if self.inputs == InputGenerator.npz.value and self.npz is None:
            raise ValueError("inputs: npz needs 'npz: path/to/calibration.npz'")
        return self


# ------------------------------------------------------------------------------------- hardware
def _one_of(kind: str, v: str, names: tuple[str, ...]) -> str:
    """``v`` when it is one of ``names`` (a registry's), else a ValueError with the closest name."""
    if v not in names:
        close = difflib.get_close_matches(v, names, n=1)
        raise ValueError(f"unknown {kind} {v!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                         + f"; one of: {', '.join(names)}")
    return v


class MeasurerRule(_Strict):
    """Use ``measurer`` for layers matching ``layers`` with at most ``max_weights`` weights."""

    measurer: str = Field(description="a registered measurer (ohq_flow/hw/measurers/__init__.py)",
                          json_schema_extra={"enum": list(MEASURER_NAMES)})
    max_weights: PositiveInt | None = None
    layers: list[str] | None = None

    @field_validator("measurer")
    @classmethod
    def _measurer(cls, v: str) -> str:
        return _one_of("measurer", v, MEASURER_NAMES)


def _default_rules() -> list[MeasurerRule]:
    # from the measured da4ml estimate times (docs/scale.md): ~1 s at 1k weights, ~7 s at 4k, minutes past 10k
    return [MeasurerRule(measurer="yosys", max_weights=1024),
            MeasurerRule(measurer="da4ml_estimate", max_weights=4096),
            MeasurerRule(measurer="analytic")]


class HardwareSection(_Strict):
    """How per-layer hardware is generated and measured (OQA)."""

    rules: list[MeasurerRule] = Field(default_factory=_default_rules, min_length=1,
                                      description="first matching rule picks the measurer of a layer")
    clock_mhz: PositiveFloat | None = Field(None, description="default: the board's clock")
    latency_cutoff: PositiveFloat | None = Field(5.0, description="da4ml pipelining: adder depth per stage; null = combinational")
    io_type: Literal["io_parallel", "io_stream"] = "io_parallel"
    reuse_factor: PositiveInt = 1
    pe: PositiveInt = 1
    simd: PositiveInt = 1
    executor: Literal["local", "dask"] = "local"
    workers: PositiveInt | None = None
    dask_address: str | None = None
    cache_dir: Path | None = Field(None, description="default: $OHQ_CACHE_DIR or ~/.cache/ohq_flow")
    timeout_s: PositiveFloat = 900.0
    max_memory_gb: PositiveFloat | None = Field(None, description="resident memory bound of every tool run and job "
                                                "(Yosys, nextpnr, Verilator, da4ml); default: half the machine's memory")
    estimate_timeout_s: PositiveFloat = Field(60.0, description="time box of one da4ml_estimate job; past it the "
                                              "calibrated analytic model of the same kernel is used (labelled)")
    board_command: list[str] | None = Field(None, description="argv of a command that prints measured latency JSON")

    @field_validator("cache_dir")
    @classmethod
    def _cache(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        return _resolve(v, info)

    @model_validator(mode="before")
    @classmethod
    def _removed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "generator" in data:
            raise ValueError("hardware.generator was removed: each measurer costs the designs of one generator "
                             "(yosys, vivado, nextpnr, da4ml_estimate: da4ml RTL; vitis_hls, vivado_hls: hls4ml); "
                             "delete the key and pick the measurer in hardware.rules")
        return data

    @model_validator(mode="after")
    def _rules_end(self) -> "HardwareSection":
        if any(r.measurer == "board" for r in self.rules) and not self.board_command:
            raise ValueError("the 'board' measurer needs hardware.board_command (an argument list)")
        return self


# -------------------------------------------------------------------------------------- budgets
BudgetValue = Union[float, str]


class BudgetsSection(_Strict):
    """Budgets of the ILP: absolute numbers or percentages of the board ("40%")."""

    lut: BudgetValue | None = None
    ff: BudgetValue | None = None
    dsp: BudgetValue | None = None
    bram18: BudgetValue | None = None
    uram: BudgetValue | None = None
    latency_cycles: BudgetValue | None = None
    ii_cycles: BudgetValue | None = None
    latency_ns: BudgetValue | None = None
    weight_bits: BudgetValue | None = None
    bops: BudgetValue | None = None
    latency_mode: Literal["sequential", "dataflow"] = "sequential"
    tolerance: float = Field(0.05, ge=0.0, le=1.0, description="a final design over a budget by more than this "
                             "fraction (post-route where implemented, else synthesised) fails the run (exit 1)")

    @field_validator(*BUDGET_METRICS, mode="before")
    @classmethod
    def _value(cls, v: Any, info: ValidationInfo) -> BudgetValue | None:
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ValueError(f"budget must be a number or a percentage like '40%', got {v!r}")
        if isinstance(v, (int, float)):
            if not math.isfinite(v) or v <= 0:
                raise ValueError(f"a budget must be a finite number > 0, got {v!r}")
            return v
        m = PERCENT.match(v)
        if m:
            if info.field_name not in RESOURCES:
                raise ValueError(f"a percentage budget needs a board total; {info.field_name} has none — give a number")
            pct = float(m.group(1))
            if not 0 < pct <= 100:
                raise ValueError(f"a percentage budget must be in (0%, 100%], got {v.strip()!r}")
            return v.strip()
        raise ValueError(f"budget must be a number or a percentage like '40%', got {v!r}")

    def as_dict(self) -> dict[str, BudgetValue]:
        return {m: getattr(self, m) for m in BUDGET_METRICS if getattr(self, m) is not None}


class HAQSection(_Strict):
    """The HAQ strategy (DDPG agent); see ohq_flow/solve/strategies/haq.py."""

    episodes: PositiveInt = 300
    batch: PositiveInt = Field(8, description="episodes whose policies are measured together (in parallel)")
    warmup: int = Field(32, ge=0, description="episodes with random actions before the actor acts")
    on_demand: bool = Field(False, description="measure only the costs the agent needs (the profile step then "
                                               "measures nothing; the solve step runs the cost jobs, cached)")
    checkpoint: bool = Field(True, description="checkpoint the search in <run>/haq/ (an interrupted run resumes)")


class SolverSection(_Strict):
    strategy: str = Field("ilp", description="selection strategy: ilp | greedy | evolutionary | uniform | haq")
    seed: int = Field(0, description="seed of the randomised strategies (same seed, same result)")
    haq: HAQSection = Field(default_factory=HAQSection)
    evaluations: PositiveInt = Field(2000, description="evolutionary: distinct assignments scored at most")
    backend: Literal["cbc", "highs"] = "cbc"
    time_limit_s: PositiveFloat = 60.0
    objective: Literal["kl", "mse"] = Field("mse", description=(
        "the damage the ILP sums: mse = mean squared error of the logits (ranks mixed designs like their accuracy drop better than KL in the selection benchmark), kl = KL divergence of the output distributions"))
    sweep: list[str] = Field(default_factory=list, description='Pareto sweeps, e.g. "lut=30%:100%:8"')
    minimize: Literal["damage", "latency_ns", "latency_cycles", "ii_cycles", "lut", "ff", "dsp", "bram18", "uram",
                      "weight_bits", "bops"] = Field(
        "damage", description="what the ILP minimises; a metric = the reverse problem (bound the damage with max_damage)")
    max_damage: PositiveFloat | None = Field(None, description="bound on the summed damage (with minimize: a metric)")
    refine: int = Field(8, ge=1, le=64, description=(
        "ilp: score the ILP's best N distinct bit assignments jointly (all layers masked at once on the MQE inputs) "
        "and keep the least damaged; 1 = the ILP's optimum of the summed damage as it is"))
    refine_pools: list[Literal["top", "uniform", "neighbours"]] = Field(["top"], min_length=1, description=(
        "candidates the joint score chooses from: top = the ILP's refine best, uniform = every uniform design within "
        "the budgets, neighbours = the ILP optimum with one layer's bits changed (uniform/neighbours also with refine: 1)"))

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, v: str) -> str:
        from ohq_flow.solve.strategies import NAMES
        return _one_of("strategy", v, NAMES)

    @field_validator("sweep")
    @classmethod
    def _sweep(cls, v: list[str]) -> list[str]:
        for s in v:
            m = SWEEP.match(s)
            if not m:
                raise ValueError(f"sweep {s!r} {SWEEP_HINT}")
            if m.group(1) not in BUDGETABLE:
                raise ValueError(f"sweep {s!r}: unknown metric {m.group(1)!r}; one of: {', '.join(BUDGETABLE)}")
        return v


class BuildSection(_Strict):
    """The final design and its verification."""

    verify_samples: PositiveInt = 64
    eval_npz: Path | None = Field(None, description="labelled evaluation set (.npz with x, y) for accuracy")
    design: bool = Field(True, description="generate the complete streaming design (final/design/) and simulate it "
                                           "whole against the QONNX executor; its ops are checked at the layers step")
    simulator: Literal["auto", "verilator", "iverilog"] = Field("auto", description="whole-network simulator "
                                                                "(auto: Verilator, else Icarus Verilog)")
    requant: Literal["auto", "thresholds", "multiply_shift"] = Field(
        "auto", description="requantisation: auto = the exact multiply-shift where its factors are powers of two "
        "or the output has more than 15 levels (4 bits), else thresholds (no multiplier per channel); multiply_shift = the "
        "exact multiply-shift wherever one exists, else thresholds; thresholds = thresholds everywhere")
    max_kernel_weights: PositiveInt = Field(16384, description="refuse up front a layer kernel (per group) past this: "
                                            "its fully unrolled da4ml solve does not finish (docs/scale.md)")
    max_minutes: PositiveFloat = Field(60.0, description="refuse up front a build estimated to take longer")
    output: Literal["logits", "argmax"] = Field("logits", description="what the complete design outputs: the logits "
                                                "(integers; design.json out_scale/out_offset) or argmax, the index "
                                                "of the largest (a vector output with one scale)")
    source: Literal["solution", "hgq"] = Field("solution", description="what is built: solution (the per-layer "
                                               "bit-widths solve chose, fine-tuned if finetune.enabled) or hgq "
                                               "(the hgq step's model, learned per-channel/per-weight widths)")

    @model_validator(mode="before")
    @classmethod
    def _removed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "enabled" in data:
            raise ValueError("build.enabled was removed (the build step always runs after solve); delete the key "
                             "(build.design: false skips the complete streaming design)")
        for key in ("fold_above_weights", "fold_max_lanes"):
            if isinstance(data, dict) and key in data:
                raise ValueError(f"build.{key} was removed: the build builds exactly the solution's folds, and a layer "
                                 "too large to unroll gets folded candidates only (search.unroll_max_weights, "
                                 "search.max_lanes)")
        return data

    @field_validator("eval_npz")
    @classmethod
    def _eval(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        v = _resolve(v, info)
        if v is not None and not v.is_file():
            raise ValueError(f"evaluation file {v} does not exist")
        return v


class ImplementSection(_Strict):
    """Bitstream of the final design: ECP5 boards via Yosys/nextpnr/ecppack, AMD boards via Vivado Tcl."""

    enabled: bool = True
    target_mhz: PositiveFloat | None = Field(None, description="design clock; default: the board's clock (a PLL makes other clocks on ECP5)")
    seed: int = Field(1, ge=0, description="nextpnr placement seed")
    router: Literal["router1", "router2"] = "router2"
    timeout_s: PositiveFloat = Field(1800.0, description="per tool run (synthesis, place and route, bitstream)")
    baud: PositiveInt = Field(115200, description="UART of the board I/O shell")
    allow_timing_failure: bool = Field(False, description="keep going (exit 0) when post-route Fmax < target; impl.json says timing_met: false")
    close_loop: bool = Field(True, description="when the post-route design misses a budget, solve again with the "
                             "budget scaled by budget/post-route, rebuild and implement again (ECP5: where place and "
                             "route runs here)")
    max_rounds: int = Field(3, ge=1, le=10, description="at most this many implementations (the first included)")


# ----------------------------------------------------------------------------------------- data
class DataSection(_Strict):
    """Labelled data for fine-tuning and HGQ: a factory, one .npz, or a train and a validation .npz."""

    factory: str | None = Field(None, description='"package.module:function" returning (train, validation): '
                                                 'two DataLoaders / iterables of (x, y) batches, or (x, y) arrays, '
                                                 'or a 4-tuple (x_train, y_train, x_val, y_val)')
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the factory")
    python_path: list[Path] = Field(default_factory=list,
                                    description="extra import directories for the factory (default: the config's directory)")
    npz: Path | None = Field(None, description=".npz with x_train, y_train, x_val, y_val")
    train_npz: Path | None = Field(None, description="training .npz with x, y (with val_npz)")
    val_npz: Path | None = Field(None, description="validation .npz with x, y (with train_npz)")

    @field_validator("factory")
    @classmethod
    def _factory_form(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", v.strip()):
            raise ValueError(f"factory must look like 'package.module:function', got {v!r}")
        return None if v is None else v.strip()

    @field_validator("python_path")
    @classmethod
    def _paths(cls, v: list[Path], info: ValidationInfo) -> list[Path]:
        return [_resolve(p, info) for p in v] or [_base_dir(info).resolve()]

    @field_validator("npz", "train_npz", "val_npz")
    @classmethod
    def _files(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        v = _resolve(v, info)
        if v is not None and not v.is_file():
            raise ValueError(f"data file {v} does not exist")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> "DataSection":
        given = [n for n, on in (("factory", self.factory is not None), ("npz", self.npz is not None),
                                 ("train_npz/val_npz", self.train_npz is not None or self.val_npz is not None)) if on]
        if len(given) != 1:
            raise ValueError("give exactly one of 'factory', 'npz' or 'train_npz' + 'val_npz'"
                             + (f" (got {', '.join(given)})" if given else ""))
        if given == ["train_npz/val_npz"] and (self.train_npz is None or self.val_npz is None):
            raise ValueError("'train_npz' and 'val_npz' go together: give both")
        return self


class FinetuneSection(_Strict):
    """Quantization-aware fine-tuning (Brevitas) at the chosen bit-widths, after solve."""

    enabled: bool = False
    epochs: PositiveInt | None = Field(None, description="passes over the training data (or give steps)")
    steps: PositiveInt | None = Field(None, description="optimizer steps (default: 10 epochs)")
    lr: PositiveFloat = 1e-3
    batch_size: PositiveInt = 64
    checkpoint_every: PositiveInt = Field(50, description="steps between checkpoints (resume after an interruption)")
    eval_every: PositiveInt | None = Field(None, description="steps between validation runs (default: once per epoch)")
    patience: PositiveInt | None = Field(5, description="validation runs without improvement before stopping; null = never stop early")
    seed: int = 0

    @model_validator(mode="after")
    def _length(self) -> "FinetuneSection":
        if self.epochs is not None and self.steps is not None:
            raise ValueError("give 'epochs' or 'steps', not both")
        return self


class HGQSection(_Strict):
    """HGQ: learned per-channel (or per-weight) weight and per-channel activation bit-widths."""

    enabled: bool = Field(False, description="run the hgq step (a selection strategy beside the ILP; needs data)")
    weight_granularity: Literal["per_channel", "per_weight"] = "per_channel"
    act_granularity: Literal["per_tensor", "per_channel"] = Field(
        "per_tensor", description="per_tensor: one input step per layer, as the hardware's kernels take it")
    init_bits: PositiveInt = Field(8, le=MAX_BITS, description="initial bit-width of every weight and activation")
    beta: float = Field(1e-5, ge=0, description="strength of the resource term (loss per predicted LUT)")
    steps: PositiveInt = 300
    lr: PositiveFloat = 1e-3
    bits_lr: PositiveFloat = Field(0.05, description="learning rate of the fractional bit parameters")
    batch_size: PositiveInt = 64
    seed: int = 0


# ---------------------------------------------------------------------------------------- root
class FlowConfig(_Strict):
    """One ohq_flow run: model, board, search space, MQE, hardware, budgets, solver, output."""

    name: str = Field("run", pattern=r"^[\w.-]+$")
    model: ModelSection
    board: str = Field(description="catalog name (ohq-flow boards) or path of a board YAML")
    search: SearchSection = Field(default_factory=SearchSection)
    mqe: MQESection = Field(default_factory=MQESection)
    hardware: HardwareSection = Field(default_factory=HardwareSection)
    budgets: BudgetsSection = Field(default_factory=BudgetsSection)
    solver: SolverSection = Field(default_factory=SolverSection)
    build: BuildSection = Field(default_factory=BuildSection)
    implement: ImplementSection = Field(default_factory=ImplementSection)
    data: DataSection | None = Field(None, description="labelled data (fine-tuning, HGQ); without it the flow is data-free")
    finetune: FinetuneSection = Field(default_factory=FinetuneSection)
    hgq: HGQSection = Field(default_factory=HGQSection)
    output_dir: Path = Field(Path("runs/run"), description="run directory (relative to the config file)")

    _source_file: Path | None = PrivateAttr(None)
    _base_dir: Path | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _finetune_needs(self) -> "FlowConfig":
        if self.finetune.enabled and (self.data is None or self.model.brevitas is None):
            missing = [w for w, m in (("a 'data' section", self.data is None),
                                      ("a Brevitas model (model.brevitas)", self.model.brevitas is None)) if m]
            raise ValueError(f"finetune.enabled needs {' and '.join(missing)}")
        if self.hgq.enabled and (self.data is None or self.model.brevitas is None):
            raise ValueError("hgq.enabled needs a 'data' section and a Brevitas model (model.brevitas)")
        if self.build.source == "hgq" and not self.hgq.enabled:
            raise ValueError("build.source: hgq builds the hgq step's model; set hgq.enabled: true (and a 'data' "
                             "section), or build.source: solution")
        if self.build.source == "hgq" and self.finetune.enabled:
            raise ValueError("build.source: hgq builds the HGQ model, so the fine-tune of the solution would not be "
                             "used; set finetune.enabled: false, or build.source: solution")
        return self

    @model_validator(mode="after")
    def _measurers_fit_board(self, info: ValidationInfo) -> "FlowConfig":
        from ohq_flow.boards import resolve_board
        from ohq_flow.hw.measurers import get
        for name in dict.fromkeys(r.measurer for r in self.hardware.rules):
            m = get(name)
            if m.check_board is not None:
                try:
                    m.check_board(resolve_board(self.board, _base_dir(info)))
                except InputError as exc:
                    raise ValueError(f"hardware.rules: {exc.message}" + (f"; {exc.hint}" if exc.hint else "")) from None
        return self

    @field_validator("board")
    @classmethod
    def _board(cls, v: str, info: ValidationInfo) -> str:
        from ohq_flow.boards import resolve_board
        try:
            resolve_board(v, _base_dir(info))
        except InputError as exc:
            raise ValueError(f"{exc.message}; {exc.hint}" if exc.hint else exc.message) from None
        return v

    @field_validator("output_dir")
    @classmethod
    def _out(cls, v: Path, info: ValidationInfo) -> Path:
        return _resolve(v, info)

    @property
    def base_dir(self) -> Path:
        """Directory relative paths in the config are resolved against."""
        return self._base_dir or Path.cwd()

    @property
    def source_file(self) -> Path | None:
        return self._source_file

    def board_obj(self):
        """The resolved :class:`ohq_flow.boards.Board`."""
        from ohq_flow.boards import resolve_board
        return resolve_board(self.board, self.base_dir)

    def clock_ns(self) -> float:
        return 1000.0 / self.hardware.clock_mhz if self.hardware.clock_mhz else self.board_obj().clock_ns


# ------------------------------------------------------------------------------------ loading
def _loc_to_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _unwrap(tp: Any) -> Any:
    """The BaseModel class inside Optional[...], list[...], dict[str, ...] annotations."""
    origin = typing.get_origin(tp)
    if origin is None:
        return tp
    for arg in typing.get_args(tp):
        inner = _unwrap(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return tp


def _model_at(loc: tuple) -> type[BaseModel] | None:
    model: Any = FlowConfig
    for part in loc:
        if isinstance(part, int) or not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        field = model.model_fields.get(part)
        if field is None:
            if part in ("brevitas", "qonnx") or model is not FlowConfig:
                pass
            return None
        model = _unwrap(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _describe(err: dict) -> str:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p in ("float", "str", "int"))))
    if err["type"] == "extra_forbidden":
        key = loc[-1]
        parent = _model_at(loc[:-1])
        known = list(parent.model_fields) if parent else []
        guess = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f"did you mean '{guess[0]}'?" if guess else f"allowed keys here: {', '.join(known)}"
        return f"unknown key '{key}' — {hint}"
    if err["type"] == "missing":
        return "required field is missing"
    if err["type"] in ("greater_than_equal", "less_than_equal") and loc and loc[-2:-1] and "bits" in str(loc[-2]):
        return f"bit-width {err['input']!r} is outside {MIN_BITS}..{MAX_BITS}"
    msg = err["msg"]
    return msg[len("Value error, "):] if msg.startswith("Value error, ") else msg


def validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    seen, out = set(), []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p in ("float", "str", "int"))))
        item = (_loc_to_path(loc), _describe(err))
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def parse_config(data: Any, *, base_dir: Path, source: str = "<config>") -> FlowConfig:
    """Validate a config mapping; raise :class:`ConfigError` listing every problem."""
    if not isinstance(data, dict):
        raise ConfigError(source, [("", "the config must be a YAML mapping (see `ohq-flow init`)")])
    try:
        cfg = FlowConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(source, validation_problems(exc)) from None
    cfg._base_dir = Path(base_dir).resolve()
    return cfg


def load_config(path: str | Path) -> FlowConfig:
    """Load and validate a YAML config file."""
    from ohq_flow.yamlio import YamlError, load_yaml, read_text_file
    path = Path(path)
    text = read_text_file(path, "config file", max_bytes=MAX_CONFIG_BYTES,
                          missing_hint="create one with `ohq-flow init CONFIG`")
    try:
        data = load_yaml(text)
    except YamlError as exc:
        raise ConfigError(str(path), [("", f"not valid YAML: {exc}")]) from None
    cfg = parse_config(data, base_dir=path.resolve().parent, source=str(path))
    cfg._source_file = path.resolve()
    return cfg


def json_schema() -> dict:
    """JSON schema of FlowConfig."""
    return FlowConfig.model_json_schema()


STARTER_CONFIG = """\
# ohq_flow run configuration. Validate with: ohq-flow validate THIS_FILE
# Relative paths are relative to this file. Full schema: ohq-flow schema
name: my_model

model:
  # Either a Brevitas module built by a factory ...
  brevitas:
    factory: "my_package.models:build_model"   # "module:function" returning a torch.nn.Module
    kwargs: {}                                  # keyword arguments of the factory
    checkpoint: null                            # state dict to load (.pt), or null
    input_shape: [1, 1, 28, 28]                 # with batch dimension
  # ... or a QONNX file (then remove 'brevitas'):
  # qonnx: model.onnx

board: pynq-z2            # ohq-flow boards lists the catalog; or a path to a board YAML

search:
  weight_bits: [2, 3, 4, 5, 6, 7, 8]   # candidate weight bit-widths
  act_bits: [4, 6, 8]                  # candidate input-activation bit-widths
  overrides: []                        # e.g. [{layers: ["Conv_0"], weight_bits: [8]}]
  pinned: {}                           # e.g. {Gemm_0: {w_bits: 8, a_bits: 8}}
  tied: []                             # extra groups with equal activation bits

mqe:
  samples: 32             # synthetic inputs
  seed: 0
  inputs: gaussian        # gaussian | uniform | distilled (BatchNorm statistics) | npz
  mean: [0.0]
  std: [1.0]
  metric: mse             # mse | kl (both are computed)
  reference: as_given     # as_given | float | int8 (precision of the layers not being masked)

hardware:
  rules:                  # first match picks the measurer of a layer
    - {measurer: yosys, max_weights: 1024}            # synthesised: seconds to a minute per job
    - {measurer: da4ml_estimate, max_weights: 4096}   # adder-graph estimate: ~7 s at 4k weights, minutes past 10k
    - {measurer: analytic}                            # larger layers: analytic model (fidelity: estimate)
  latency_cutoff: 5.0     # da4ml pipelining (adder depth per stage); null = combinational
  executor: local         # local | dask
  timeout_s: 900
  estimate_timeout_s: 60  # a da4ml estimate past this becomes a labelled (calibrated) analytic row

budgets:                  # numbers, or % of the board for lut/ff/dsp/bram18/uram
  lut: "50%"
  latency_mode: sequential

solver:
  backend: cbc            # cbc (bundled) | highs
  objective: mse          # the summed damage: mse (of the logits) | kl
  refine: 8               # N > 1: the ILP's N best bit assignments scored jointly, the least damaged kept
  refine_pools: [top]     # + uniform (uniform designs within budget), neighbours (one layer changed): scored too
  time_limit_s: 60
  sweep: ["lut=20%:100%:9"]

implement:                # bitstream: ECP5 boards (Yosys + nextpnr + ecppack); AMD boards get a Vivado Tcl script
  enabled: true
  target_mhz: null        # default: the board's clock (on ECP5 a PLL makes any other clock)
  seed: 1
  timeout_s: 1800
# Optional: labelled data, for fine-tuning at the chosen bit-widths (and HGQ)
# data:
#   factory: "my_package.data:loaders"  # -> (train, validation): DataLoaders or (x, y) arrays
#   # or npz: data.npz (x_train, y_train, x_val, y_val)
# finetune: {enabled: true, epochs: 10, lr: 0.001, batch_size: 64, checkpoint_every: 50, patience: 5, seed: 0}
# hgq: {enabled: true, weight_granularity: per_channel, beta: 1.0e-5, steps: 300}  # learned per-channel bits
# (with build: {source: hgq} the build step builds the HGQ model instead of the solution)

output_dir: runs/my_model
"""
