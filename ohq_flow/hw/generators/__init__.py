"""hw/generators."""
