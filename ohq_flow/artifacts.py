"""The run directory's shared artifacts: their file names and the loaders any step or room may use.

A low module (it imports nothing of the flow's steps): training, solving and building code read the
run's model and layers through it instead of through :mod:`ohq_flow.steps`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ohq_flow.pipeline import RunContext

MODEL_ONNX = "model.onnx"
LAYERS_JSON = "layers.json"
QUANT_OWNERS = "quant_owners.json"


def quant_owners(ctx: RunContext) -> dict[str, str]:
    """Which Brevitas quantizer each Quant node comes from (quant_owners.json; empty without one)."""
    import json
    path = ctx.path(QUANT_OWNERS)
    return json.loads(path.read_text()) if path.is_file() else {}


def load_run_model(ctx: RunContext):
    """The cleaned QONNX model of the run (cached in memory per run)."""
    from qonnx.core.modelwrapper import ModelWrapper
    if "model" not in ctx.cache:
        ctx.cache["model"] = ModelWrapper(str(ctx.path(MODEL_ONNX)))
    return ctx.cache["model"]


def load_layers(ctx: RunContext):
    """Layers of the run's model (discovered again from model.onnx; cheap and always consistent)."""
    from ohq_flow.model.layers import discover_layers
    if "layers" not in ctx.cache:
        ctx.cache["layers"] = discover_layers(load_run_model(ctx), quant_owners(ctx))
    return ctx.cache["layers"]


def run_space(ctx: RunContext):
    """The search space of the run's layers under the config's search section."""
    from ohq_flow.search_space import search_space
    return search_space(load_layers(ctx), ctx.cfg.search)


def model_input_shape(ctx: RunContext) -> list[int]:
    """The shape of the run model's input."""
    model = load_run_model(ctx)
    return [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
