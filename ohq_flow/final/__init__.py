"""The build step: write-back to QONNX/Brevitas and the final artifacts of a run (``final/``)."""
