"""Integer model of the stage list (what the RTL computes), for diagnosis: run a frame stage by stage."""

from __future__ import annotations

import numpy as np

from ohq_flow.design.graph import NetworkIR


def _windows(x: np.ndarray, p: dict) -> np.ndarray:
    """[pixels, C] raster -> [windows, C*KH*KW] ordered (c, kh, kw), padded with ``PADV`` (an EW-bit pattern: zero,
    or the most negative signed value for a padded MaxPool)."""
    h, w, c = p["H"], p["W"], p["C"]
    img = x.reshape(h, w, c)
    out = []
    for oy in range(p["OH"]):
        for ox in range(p["OW"]):
            win = np.full((c, p["KH"], p["KW"]), p.get("PADV", 0) - (1 << p["EW"] if p.get("PADV", 0) else 0), dtype=object)
            for kh in range(p["KH"]):
                for kw in range(p["KW"]):
                    iy, ix = oy * p["SH"] + kh - p["PT"], ox * p["SW"] + kw - p["PL"]
                    if 0 <= iy < h and 0 <= ix < w:
                        win[:, kh, kw] = img[iy, ix]
            out.append(win.reshape(-1))
    return np.array(out, dtype=object)


def run_stages(ir: NetworkIR, frame: np.ndarray) -> list[np.ndarray]:
    """Beats [beats, elements] after every stage for one frame of integer input beats."""
    streams = {0: np.asarray(frame, dtype=object)}
    outs = []
    for st in ir.stages:
        x = streams[st.src[0]]
        if st.kind == "window":
            x = _windows(x, st.params)
        elif st.kind in ("kernel", "mvau"):
            x = np.array(x, dtype=object).dot(st.info["matrix"].astype(object))
        elif st.kind == "requant":
            rq = st.info["requant"]
            ch = np.arange(x.shape[1])
            x = np.array([rq.apply(row, ch) for row in x], dtype=object)
        elif st.kind in ("maxpool", "sumpool"):
            k = st.params["K"]
            x = x.reshape(len(x), -1, k)
            x = x.max(axis=2) if st.kind == "maxpool" else x.sum(axis=2)
        elif st.kind == "collect":
            x = x.reshape(1, -1)
        elif st.kind == "argmax":
            x = np.array([[int(np.argmax(np.asarray(row, dtype=np.int64)))] for row in x], dtype=object)
        elif st.kind == "add":
            x = x + streams[st.src[1]]
        for d in st.dst:
            streams[d] = x
        outs.append(np.asarray(x, dtype=object))
    return outs
