"""Per-layer design generators: hls4ml projects (``hls4ml_gen``); da4ml RTL lives in ``ohq_flow.hw.rtl``."""
