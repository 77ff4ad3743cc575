"""nnU-Net v2 inference: the model store (cache, zip import, validation), device choice, the predictor and one-volume
prediction. Nothing here imports torch or nnunetv2 at module import, so Slicer lists models before installing them."""
