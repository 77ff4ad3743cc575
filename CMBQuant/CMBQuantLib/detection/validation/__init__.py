"""Detector validation (VALDO-style): one lesion matcher, per-case metrics, cohort summaries and ``cmbquant evaluate``."""
