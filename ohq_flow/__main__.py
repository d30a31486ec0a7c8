"""python -m ohq_flow == ohq-flow."""

from ohq_flow.cli import main

main()
