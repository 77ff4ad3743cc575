"""MARS regional counting: label maps or a template atlas -> region, lobe and side per CMB; counts per case."""
