"""Export: per-case files, the cohort table, an nnU-Net raw dataset of reviewed labels, and the overview PNG."""
