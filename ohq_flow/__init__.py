"""ohq_flow: hardware-aware mixed-precision quantization for FPGAs.

Brevitas/QONNX model -> per-layer sensitivity (MQE) + measured per-layer hardware cost (OQA)
-> ILP bit-width selection -> write-back, final design and verification.

Python API: ``ohq_flow.Flow(config)`` (the CLI's steps from a notebook) and
``ohq_flow.load_brevitas(run_dir)`` (the final Brevitas module at its chosen bit-widths).
"""

from ohq_flow.version import __version__

__all__ = ["Flow", "load_brevitas", "__version__"]


def __getattr__(name):  # imported on first use: `import ohq_flow` stays light
    if name == "Flow":
        from ohq_flow.api import Flow
        return Flow
    if name == "load_brevitas":
        from ohq_flow.final.interop import load_brevitas
        return load_brevitas
    raise AttributeError(f"module 'ohq_flow' has no attribute {name!r}")
