"""hw/measurers."""
