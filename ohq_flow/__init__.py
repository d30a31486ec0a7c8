"""ohq_flow: hardware-aware mixed-precision quantization for FPGAs.

Brevitas/QONNX model -> per-layer sensitivity (MQE) + measured per-layer hardware cost (OQA)
-> ILP bit-width selection -> write-back, final design and verification.
"""

__version__ = "0.1.0"
