"""The taxi training pipeline: one factory, used by every runner."""
