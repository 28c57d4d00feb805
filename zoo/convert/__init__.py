"""Checkpoint formats in and out: Hugging Face configs and name maps, GGUF."""
