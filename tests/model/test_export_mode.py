"""export_brevitas on a module left in training mode: exported as in eval mode, statistics untouched."""

from __future__ import annotations

import numpy as np
import torch


def test_training_mode_module_exports_its_eval_model_and_keeps_its_statistics(tmp_path):
    from examples.suite.models import mnist1d_cnn, res_cnn
    from ohq_flow.model.export import export_brevitas
    torch.manual_seed(0)
    m = res_cnn().train()                           # BatchNorm + runtime-statistics activation quantizers
    before = {k: v.clone() for k, v in m.state_dict().items()}
    export_brevitas(m, [1, 1, 8, 8], tmp_path / "res.onnx")
    assert m.training                               # the caller's mode is restored
    after = m.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    torch.manual_seed(0)
    m1d = mnist1d_cnn()
    q = export_brevitas(m1d, [1, 1, 40], tmp_path / "m1d.onnx")
    q_eval = export_brevitas(m1d.eval(), [1, 1, 40], tmp_path / "m1d_eval.onnx")
    scales = {n.name: q.get_initializer(n.input[1]) for n in q.graph.node if n.op_type == "Quant"}
    # a zero-input probe in training mode used to collapse activation scales to Brevitas' 1e-10 floor
    assert min(float(np.min(s)) for s in scales.values()) > 1e-6
    for n in q_eval.graph.node:
        if n.op_type == "Quant":
            assert np.array_equal(q_eval.get_initializer(n.input[1]), scales[n.name])
