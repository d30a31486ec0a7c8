"""hls4ml generator: one extracted layer -> hls4ml HLS project (QONNX front end), C-simulation."""

from .project import compile_and_predict, prepare_for_hls4ml, read_project_meta, write_hls4ml_project

__all__ = ["compile_and_predict", "prepare_for_hls4ml", "read_project_meta", "write_hls4ml_project"]
