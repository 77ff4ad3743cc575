"""The core every stage shares: CMB records and statuses, geometry, the case folder and its counts, atomic writes,
the MRML scene and the segment-per-CMB node. It imports no other stage."""
