"""Training recipes: the demo nnU-Net (phantoms -> raw dataset -> small CPU network) and the CMB filter.

Run ``python -m CMBQuantLib.training.train --work DIR`` (needs torch and nnunetv2). See MODEL_CARD.md."""
