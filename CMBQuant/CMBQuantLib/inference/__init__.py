"""nnU-Net v2 inference for CMBQuant: model store, device choice, predictor, worker subprocess, end-to-end run.

Nothing here imports torch or nnunetv2 at module import; Slicer can list models and devices before installing them.
"""


def create_segmenter(model=None, device="auto", **options):
    """``cmbquant batch``'s default segmenter factory (imports torch only when called)."""
    from .segmenter import create_segmenter as _create

    return _create(model=model, device=device, **options)
