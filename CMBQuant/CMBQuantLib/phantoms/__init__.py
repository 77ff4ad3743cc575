"""Synthetic SWI phantoms with known CMBs and mimics, on a procedural head or real MNI anatomy."""
