"""Qt panels of the CMBQuant module (Slicer only): each binds one section of CMBQuant.ui to a logic object.

Panels hold no CMB logic; they read widgets, call the logic (typed by the Protocols in ``protocols.py``, so tests
pass mocks) and show the result.
"""
