"""hw/reports."""
