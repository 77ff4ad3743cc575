"""Two-stage CMB detection: sensitive screening (dark-spot screen united with nnU-Net components), then a learned
CMB filter (``p_cmb`` per candidate) that tells CMBs from veins, calcifications, artefacts and noise."""
