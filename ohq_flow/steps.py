"""The flow's steps, in order. Each reads artifacts from the run directory and writes its own."""

from __future__ import annotations

from ohq_flow.fileio import atomic_write_json, atomic_write_text
from ohq_flow.pipeline import RunContext, Step

MODEL_ONNX = "model.onnx"
LAYERS_JSON = "layers.json"


def step_export(ctx: RunContext) -> dict:
    """Brevitas -> QONNX (or load and clean the given QONNX file) -> model.onnx."""
    from ohq_flow.model.export import export_model
    from ohq_flow.model.layers import unsupported_ops
    from ohq_flow.errors import ModelError

    model, _ = export_model(ctx.cfg, ctx.path(MODEL_ONNX))
    bad = unsupported_ops(model)
    if bad:
        raise ModelError(f"{ctx.path(MODEL_ONNX)}: node types the QONNX executor cannot run: {', '.join(bad)}",
                         "replace or remove those operations in the model, or export them as standard ONNX ops")
    return {"nodes": len(model.graph.node)}


def load_run_model(ctx: RunContext):
    """The cleaned QONNX model of the run (cached in memory per run)."""
    from qonnx.core.modelwrapper import ModelWrapper
    if "model" not in ctx.cache:
        ctx.cache["model"] = ModelWrapper(str(ctx.path(MODEL_ONNX)))
    return ctx.cache["model"]


def step_layers(ctx: RunContext) -> dict:
    """Discover quantizable layers -> layers.json and layers.txt."""
    from ohq_flow.model.layers import discover_layers, layers_table, tied_groups

    layers = discover_layers(load_run_model(ctx))
    atomic_write_json(ctx.path(LAYERS_JSON), {"layers": [l.to_dict() for l in layers],
                                              "tied_groups": tied_groups(layers)})
    atomic_write_text(ctx.path("layers.txt"), layers_table(layers) + "\n")
    return {"layers": len(layers)}


STEPS = [
    Step("export", step_export, (MODEL_ONNX,), ("model",), (), "export the model to QONNX"),
    Step("layers", step_layers, (LAYERS_JSON, "layers.txt"), (), (MODEL_ONNX,), "discover quantizable layers"),
]


def step_names() -> list[str]:
    return [s.name for s in STEPS]
