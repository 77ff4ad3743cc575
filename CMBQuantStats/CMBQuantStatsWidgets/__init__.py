"""Qt panels of the CMBQuantStats module (Slicer only): each binds part of the .ui to a Protocol-typed logic."""
