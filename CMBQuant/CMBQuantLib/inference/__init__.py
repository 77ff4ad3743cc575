"""nnU-Net v2 inference for CMBQuant: model store, device choice, predictor, worker subprocess, end-to-end run.

Nothing here imports torch or nnunetv2 at module import; Slicer can list models and devices before installing them.
"""
