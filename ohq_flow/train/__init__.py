"""Training on the user's data: the data section, quantization-aware fine-tuning, HGQ."""
