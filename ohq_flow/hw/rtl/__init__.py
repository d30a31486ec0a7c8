"""Per-layer RTL: da4ml constant matrix-vector products, Yosys synthesis, iverilog simulation."""
