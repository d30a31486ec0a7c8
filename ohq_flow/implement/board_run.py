"""Host driver for the board I/O shell: send input frames over the UART, read outputs and the
board's cycle count, compare with the expected integers (the QONNX executor's).

Protocol (see templates/rtl/ohq_uart_shell.v): 'F' + input frame -> 'R', status, output frame,
32-bit cycle count; 'I' -> 'I' + IN_W, IN_BEATS, OUT_W, OUT_BEATS. Little-endian; a beat is
ceil(width/8) bytes holding the channels from bit 0 up, each ``elem_bits`` wide (two's complement
when signed).
"""

from __future__ import annotations

import json
import statistics
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ohq_flow.errors import FlowError, InputError

from .design import DesignSpec

VECTORS = "final/verify/network_vectors.npz"   # x: (N, in_beats, in_channels), y: (N, out_beats, out_channels) ints


def pack_frame(x: np.ndarray, width: int, bits: int) -> bytes:
    """(beats, channels) integers -> bytes of one frame."""
    nbytes = (width + 7) // 8
    mask = (1 << bits) - 1
    out = bytearray()
    for beat in np.asarray(x, dtype=np.int64):
        word = 0
        for c, v in enumerate(beat):
            word |= (int(v) & mask) << (c * bits)
        out += word.to_bytes(nbytes, "little")
    return bytes(out)


def unpack_frame(data: bytes, beats: int, width: int, channels: int, bits: int, signed: bool) -> np.ndarray:
    """Bytes of one frame -> (beats, channels) integers."""
    nbytes = (width + 7) // 8
    mask = (1 << bits) - 1
    out = np.zeros((beats, channels), dtype=np.int64)
    for b in range(beats):
        word = int.from_bytes(data[b * nbytes:(b + 1) * nbytes], "little")
        for c in range(channels):
            v = (word >> (c * bits)) & mask
            out[b, c] = v - (1 << bits) if signed and v >> (bits - 1) else v
    return out


class ShellLink:
    """One UART connection to the shell (a pyserial port or anything with read/write)."""

    def __init__(self, port, spec: DesignSpec):
        self.port, self.spec = port, spec

    def _read(self, n: int, what: str) -> bytes:
        data = self.port.read(n)
        if len(data) != n:
            raise FlowError(f"no answer from the board: {what} ({len(data)} of {n} bytes before the timeout)",
                            "check the port, the baud rate and that the bitstream of this run is loaded")
        return data

    def info(self) -> tuple[int, int, int, int]:
        self.port.reset_input_buffer()
        self.port.write(b"I")
        if self._read(1, "info header") != b"I":
            raise FlowError("the board answered 'I' with something else: not the ohq_flow shell, or a wrong baud rate")
        return struct.unpack("<4I", self._read(16, "info"))

    def run(self, x: np.ndarray) -> tuple[np.ndarray, int, int]:
        """One frame -> (outputs (beats, channels), cycles, status)."""
        s = self.spec
        self.port.write(b"F" + pack_frame(x, s.in_width, s.in_elem_bits))
        head = self._read(2, "reply header")
        if head[0:1] != b"R":
            raise FlowError(f"unexpected reply byte {head[0]:#04x} (want 'R')")
        nbytes = s.out_beats * ((s.out_width + 7) // 8)
        y = unpack_frame(self._read(nbytes, "output frame"), s.out_beats, s.out_width, s.out_channels, s.out_elem_bits,
                         s.out_signed)
        (cycles,) = struct.unpack("<I", self._read(4, "cycle count"))
        return y, cycles, head[1]


@dataclass
class BoardRunResult:
    frames: int = 0
    exact: int = 0
    label_correct: int | None = None
    labels: int = 0
    cycles: list[int] = field(default_factory=list)
    tlast_errors: int = 0
    mismatches: list[int] = field(default_factory=list)

    def to_dict(self, clock_mhz: float | None) -> dict:
        med = statistics.median(self.cycles) if self.cycles else None
        return {"frames": self.frames, "bit_exact": self.exact, "bit_exact_fraction": self.exact / self.frames if self.frames else None,
                "accuracy": (self.label_correct / self.labels) if self.labels else None, "labels": self.labels,
                "cycles_median": med, "cycles_min": min(self.cycles, default=None), "cycles_max": max(self.cycles, default=None),
                "clock_mhz": clock_mhz, "latency_ns_median": round(med * 1000.0 / clock_mhz, 3) if med is not None and clock_mhz else None,
                "tlast_errors": self.tlast_errors, "first_mismatches": self.mismatches[:10]}


def load_vectors(path: Path, spec: DesignSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    if not path.is_file():
        raise InputError(f"no test vectors: {path} does not exist",
                         "the build step writes them (x, y integer arrays of the QONNX executor); or pass --vectors")
    with np.load(path) as d:
        if "x" not in d or "y" not in d:
            raise InputError(f"{path} needs arrays 'x' and 'y' (integers), has {sorted(d.keys())}")
        x, y, labels = d["x"], d["y"], d["labels"] if "labels" in d else None
    n = len(x)
    x = x.reshape(n, spec.in_beats, spec.in_channels) if x.size == n * spec.in_beats * spec.in_channels else None
    if x is None or y.size != n * spec.out_beats * spec.out_channels:
        raise InputError(f"{path}: x/y shapes do not match design.json (in {spec.in_beats}x{spec.in_channels}, "
                         f"out {spec.out_beats}x{spec.out_channels} per frame)")
    return x, y.reshape(n, spec.out_beats, spec.out_channels), labels


def board_run(link: ShellLink, x: np.ndarray, y: np.ndarray, labels: np.ndarray | None = None) -> BoardRunResult:
    """Send every frame, compare the outputs; exact match counts, label accuracy (argmax) when labels are given."""
    s = link.spec
    got = link.info()
    want = (s.in_width, s.in_beats, s.out_width, s.out_beats)
    if tuple(got) != want:
        raise FlowError(f"the board's shell has IN_W, IN_BEATS, OUT_W, OUT_BEATS = {tuple(got)}, the design {want}: "
                        "another bitstream is loaded", "program the board with this run's final/impl/*.bit")
    res = BoardRunResult()
    for i in range(len(x)):
        out, cycles, status = link.run(x[i])
        res.frames += 1
        res.cycles.append(cycles)
        if status != 1:
            res.tlast_errors += 1
        if np.array_equal(out, y[i]):
            res.exact += 1
        else:
            res.mismatches.append(i)
        if labels is not None:
            res.labels += 1
            res.label_correct = (res.label_correct or 0) + int(int(np.argmax(out.reshape(-1))) == int(labels[i]))
    return res


def main_board_run(run_dir: Path, port: str, *, baud: int = 115200, vectors: Path | None = None, limit: int | None = None,
                   timeout_s: float = 5.0) -> dict:
    """``ohq-flow board-run``: load the run's design and vectors, talk to ``port``, write final/impl/board_run.json."""
    import serial  # pyserial
    from .design import DESIGN_JSON, load_design
    from ohq_flow.fileio import atomic_write_json
    spec, _, _ = load_design(run_dir / DESIGN_JSON)
    x, y, labels = load_vectors(vectors or run_dir / VECTORS, spec)
    if limit:
        x, y, labels = x[:limit], y[:limit], None if labels is None else labels[:limit]
    impl = run_dir / "final" / "impl" / "impl.json"
    clock = json.loads(impl.read_text()).get("target_mhz") if impl.is_file() else None
    try:
        ser = serial.Serial(port, baudrate=baud, timeout=timeout_s)
    except serial.SerialException as exc:
        raise InputError(f"cannot open serial port {port}: {exc}", "check --port (e.g. /dev/ttyUSB0) and permissions") from None
    with ser:
        res = board_run(ShellLink(ser, spec), x, y, labels)
    out = res.to_dict(clock)
    atomic_write_json(run_dir / "final" / "impl" / "board_run.json", out)
    return out


def format_board_run(r: dict) -> str:
    lines = [f"{r['frames']} frames: {r['bit_exact']} bit-exact with the QONNX executor ({100 * (r['bit_exact_fraction'] or 0):.1f} %)"]
    if r["accuracy"] is not None:
        lines.append(f"accuracy on the board: {100 * r['accuracy']:.2f} % ({r['labels']} labelled frames)")
    if r["cycles_median"] is not None:
        ns = f" = {r['latency_ns_median']:g} ns at {r['clock_mhz']:g} MHz" if r["latency_ns_median"] is not None else ""
        lines.append(f"on-board latency: {r['cycles_median']:g} cycles (median; min {r['cycles_min']}, max {r['cycles_max']}){ns}")
    if r["tlast_errors"]:
        lines.append(f"WARNING: {r['tlast_errors']} frames without tlast on their last output beat")
    return "\n".join(lines)
