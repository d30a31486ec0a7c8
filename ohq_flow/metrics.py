"""The budget metrics and the spelling of budgets and sweeps — defined once for the config and the solver."""

from __future__ import annotations

import re

RESOURCES = ("lut", "ff", "dsp", "bram18", "uram")                       # have board totals (percent budgets)
LATENCY_METRICS = ("latency_cycles", "ii_cycles", "latency_ns")
COST_METRICS = RESOURCES + LATENCY_METRICS
METRICS = COST_METRICS + ("weight_bits", "bops")                          # every budgetable cost
BUDGETABLE = METRICS + ("damage",)                                        # damage: the reverse problem's bound

_NUM = r"[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?"
PERCENT = re.compile(rf"^\s*({_NUM})\s*%\s*$")                            # "40%", " 2.5 %", ".5%"
SWEEP = re.compile(rf"^\s*(\w+)\s*=\s*({_NUM}\s*%?)\s*:\s*({_NUM}\s*%?)\s*:\s*(\d+)\s*$")   # "lut=30%:100%:8"
SWEEP_HINT = "must look like 'metric=START:STOP:N', e.g. 'lut=30%:100%:8'"
