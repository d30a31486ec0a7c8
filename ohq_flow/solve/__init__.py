"""ILP bit-width selection, infeasibility diagnosis, Pareto sweeps."""
