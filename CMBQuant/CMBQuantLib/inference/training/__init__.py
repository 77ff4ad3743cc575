"""Recipe for the shipped demo model: synthetic phantoms -> nnU-Net raw dataset -> small CPU network -> evaluation.

Run ``python -m CMBQuantLib.inference.training.train --work DIR`` (needs ``torch`` and ``nnunetv2``). See MODEL_CARD.md.
"""
