"""CMBQuant's pure logic: no Qt, the MRML scene is always an argument.

Data flows one way: volumes -> inference -> candidates -> segments -> regions -> review -> export.
"""

__version__ = "0.1.0"
