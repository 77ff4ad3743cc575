"""Review a case in the browser: the same ReviewSession, keymap and case folder as Slicer, served by trame-slicer.

trame is imported only inside this subpackage (and lazily), so the rest of CMBQuant never needs it.
"""
