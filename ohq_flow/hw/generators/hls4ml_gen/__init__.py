"""hls4ml generator: one extracted layer -> hls4ml HLS project (QONNX front end), C-simulation."""

from ohq_flow.hw.generators.base import Generator

from .project import compile_and_predict, prepare_for_hls4ml, read_project_meta, write_hls4ml_project


def _version() -> str:
    import importlib.metadata as md
    return md.version("hls4ml")


GENERATOR = Generator(name="hls4ml", output="hls_project", generate=write_hls4ml_project, version=_version,
                      needs_layer_onnx=True)

__all__ = ["GENERATOR", "compile_and_predict", "prepare_for_hls4ml", "read_project_meta", "write_hls4ml_project"]
