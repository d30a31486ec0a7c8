"""Evaluation of ohq_flow against other bit-allocation methods (issue: evaluation).

``methods``: search baselines on one :class:`ohq_flow.solve.problem.Problem` (uniform, greedy,
evolutionary HAQ-style search, exhaustive enumeration); ``hawq``: HAWQ-V3-style Hessian-trace
sensitivity of a Brevitas model; ``accuracy``: exact test accuracy of an assignment on the
QONNX model. ``bench/bench_eval.py`` runs them on the model suite.
"""
