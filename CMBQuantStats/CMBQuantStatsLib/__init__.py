"""CMBQuantStats' pure logic: tables -> models -> report (and validation of CMB detectors)."""

__version__ = "0.1.0"
