"""The cycle model of the streamed pipeline: exact per-beat times, and its linear bound for the ILP.

What the RTL does, cycle by cycle, when nothing stalls: a beat transferred in cycle t leaves a
kernel stage at t + LAT + 1 (pipeline + output FIFO), a requant, pooling, fork, FIFO or argmax
stage at t + 1 (output register), a collect stage at t + 1 after its last beat; a window is sent
2 cycles after the last pixel it needs arrived (write, then register), at most one per cycle.
A folded layer (``mvau``) takes a beat at a = max(arrival, previous take + C) with
C = (MH/PE)·(MW/SIMD) and gives it at a + C + K + 1, K = its requantisation steps per neuron fold (1 without a
requantiser); a requantiser fused into it passes its stream on. Latency = last output beat - first input beat of
one frame; II = the most cycles any stage spends on a frame (beats, or beats x C for a folded layer).

:func:`predict_timing` computes it exactly from the stage records; :func:`bound_terms` gives, per
stage, the delays of its first and last beat and the spread of its own beats — the terms of a
longest-path bound (``E_out``) that is linear in the chosen candidates' kernel latencies and fold
cycles and never exceeds the exact latency (the ILP uses the bound and checks every solution
with :func:`predict_timing`).
"""

from __future__ import annotations


def predict_timing(stages: list[dict], in_beats: int, out_sid: int) -> tuple[int, int]:
    """(latency, II) of the stage model for one frame whose beats arrive one per cycle.

    ``stages``: kind, lat (kernels), cycles (folded layers), params, src/dst stream ids, in
    topological order. Back-pressure of a slow stage on the ones before it is not modelled (exact
    when every stage after the first folded one is at least as fast, e.g. an MLP's one beat per frame).
    """
    times = {0: list(range(in_beats))}
    ii = in_beats
    for s in stages:
        kind = s["kind"]
        t = times[s["src"][0]]
        if kind == "kernel":
            t = [x + s["lat"] + 1 for x in t]
        elif kind == "mvau":
            c, k, out, take = s["cycles"], s.get("drain", 1), [], None
            for x in t:
                take = x if take is None else max(x, take + c)
                out.append(take + c + k + 1)
            t = out
            ii = max(ii, len(t) * c)
        elif kind == "requant" and s.get("fused"):       # inside the MVAU before it
            pass
        elif kind in ("requant", "maxpool", "sumpool", "fork", "fifo", "argmax"):
            t = [x + 1 for x in t]
        elif kind == "add":
            t = [max(a, b) + 1 for a, b in zip(t, times[s["src"][1]])]
        elif kind == "collect":
            n = s["params"]["N"]
            t = [t[(j + 1) * n - 1] + 1 for j in range(len(t) // n)]
        elif kind == "window":
            p = s["params"]
            out, prev = [], -1
            for oy in range(p["OH"]):
                for ox in range(p["OW"]):
                    prev = max(t[_needed(p, oy, ox)] + 2, prev + 1)
                    out.append(prev)
            t = out
        else:
            raise ValueError(f"stage kind {kind!r} has no cycle model")
        for d in s["dst"]:
            times[d] = t
        ii = max(ii, len(t))
    return times[out_sid][-1], ii


def _needed(p: dict, oy: int, ox: int) -> int:
    """The input pixel (raster index) that completes window (oy, ox)."""
    ny = min(oy * p["SH"] + p["KH"] - 1 - p["PT"], p["H"] - 1)
    nx = min(ox * p["SW"] + p["KW"] - 1 - p["PL"], p["W"] - 1)
    return ny * p["W"] + nx


def bound_terms(s: dict, in_beats: int, out_beats: int) -> dict:
    """The stage's terms of the longest-path bound, each (constant, factor of the stage's variable: a kernel's
    LAT, a folded layer's C; 0 elsewhere), with A/E the times of a stream's first/last beat:

    ``first``: A_out >= A_in + first; ``last``: E_out >= E_in + last (None: no such bound);
    ``last_from_first``: E_out >= A_in + last_from_first (None: none); ``spread``: E_out >= A_out + spread.
    Every bound holds for every beat pattern :func:`predict_timing` can produce (beats at least a cycle apart)."""
    kind = s["kind"]
    if kind == "kernel":
        return {"first": (1, 1), "last": (1, 1), "last_from_first": None, "spread": (out_beats - 1, 0)}
    if kind == "mvau":                      # its C is the variable (the candidate's fold), K a constant of the fold
        k = s.get("drain", 1)
        return {"first": (1 + k, 1), "last": (1 + k, 1), "last_from_first": None, "spread": (0, out_beats - 1)}
    if kind == "requant" and s.get("fused"):               # inside the MVAU before it
        return {"first": (0, 0), "last": (0, 0), "last_from_first": None, "spread": (out_beats - 1, 0)}
    if kind in ("requant", "maxpool", "sumpool", "fork", "fifo", "argmax", "add"):
        return {"first": (1, 0), "last": (1, 0), "last_from_first": None, "spread": (out_beats - 1, 0)}
    if kind == "collect":
        n = s["params"]["N"]
        return {"first": (n, 0), "last": (1, 0), "last_from_first": None, "spread": (out_beats - 1, 0)}
    if kind == "window":
        p = s["params"]
        need = [_needed(p, oy, ox) for oy in range(p["OH"]) for ox in range(p["OW"])]
        # the windows from the first that needs the input's last pixel on wait for it, then leave one per cycle
        k = next((i for i, n in enumerate(need) if n == in_beats - 1), None)
        return {"first": (need[0] + 2, 0), "last": None if k is None else (2 + len(need) - 1 - k, 0),
                "last_from_first": (need[-1] + 2, 0), "spread": (out_beats - 1, 0)}
    raise ValueError(f"stage kind {kind!r} has no cycle model")
