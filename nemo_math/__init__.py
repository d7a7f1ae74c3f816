"""nemo-math."""
