"""Hand-written nnU-Net v2 plans for a small CPU-trainable 3D U-Net (no fingerprint or planner run needed).

The default planner picks a 16-31 M parameter network (seconds per patch on a CPU); the demo model uses ~0.35 M
parameters (features 8-16-32-64, patch 48x64x64), which trains in minutes on two cores and still finds 2-10 mm CMBs.
"""
from __future__ import annotations

from typing import Any

DATASET_NAME = "Dataset501_CMBQuantDemo"
PLANS_NAME = "nnUNetPlans"
CONFIGURATION = "3d_fullres"
# Array axis order (k, j, i) = (slice, row, column): a typical clinical SWI grid, 2 mm slices, 0.9 mm in-plane.
TARGET_SPACING = (2.0, 0.9, 0.9)
PATCH_SIZE = (32, 48, 48)  # 96 x 43 x 43 mm of context: plenty for a <= 10 mm CMB
FEATURES = (8, 16, 32, 64)


def small_plans(spacing: tuple[float, float, float] = TARGET_SPACING,
                patch_size: tuple[int, int, int] = PATCH_SIZE,
                features: tuple[int, ...] = FEATURES,
                batch_size: int = 2,
                dataset_name: str = DATASET_NAME,
                normalization: str = "ZScoreNormalization") -> dict[str, Any]:
    """A complete ``plans.json`` dict for a single-channel 3d_fullres plain U-Net.

    The demo model uses ``NoNormalization`` with CMBQuant's own scaling (see ``dataset_json``): nnU-Net's per-image
    z-score depends on how much air and scalp the field of view holds, so small training crops and whole heads
    would be normalised differently.
    """
    n = len(features)
    # First stage keeps resolution; the slice axis (k) is pooled one stage later because slices are thick.
    strides = [[1, 1, 1]] + [[1 if (s == 1 and spacing[0] > 1.5 * spacing[1]) else 2, 2, 2] for s in range(1, n)]
    kernels = [[1 if (s == 0 and spacing[0] > 1.5 * spacing[1]) else 3, 3, 3] for s in range(n)]
    arch = {
        "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
        "arch_kwargs": {
            "n_stages": n,
            "features_per_stage": list(features),
            "conv_op": "torch.nn.modules.conv.Conv3d",
            "kernel_sizes": kernels,
            "strides": strides,
            "n_conv_per_stage": [2] * n,
            "n_conv_per_stage_decoder": [2] * (n - 1),
            "conv_bias": True,
            "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
            "norm_op_kwargs": {"eps": 1e-5, "affine": True},
            "dropout_op": None,
            "dropout_op_kwargs": None,
            "nonlin": "torch.nn.LeakyReLU",
            "nonlin_kwargs": {"inplace": True},
        },
        "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
    }
    config = {
        "data_identifier": f"{PLANS_NAME}_{CONFIGURATION}",
        "preprocessor_name": "DefaultPreprocessor",
        "batch_size": batch_size,
        "patch_size": list(patch_size),
        "median_image_size_in_voxels": [64, 128, 128],
        "spacing": list(spacing),
        "normalization_schemes": [normalization],
        "use_mask_for_norm": [False],
        "resampling_fn_data": "resample_data_or_seg_to_shape",
        "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None},
        "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None},
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None},
        "architecture": arch,
        "batch_dice": False,
    }
    return {
        "dataset_name": dataset_name,
        "plans_name": PLANS_NAME,
        "original_median_spacing_after_transp": list(spacing),
        "original_median_shape_after_transp": [64, 128, 128],
        "image_reader_writer": "SimpleITKIO",
        "transpose_forward": [0, 1, 2],
        "transpose_backward": [0, 1, 2],
        "configurations": {CONFIGURATION: config},
        "experiment_planner_used": "hand-written (CMBQuantLib.training.plans)",
        "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {
            "0": {"max": 1.0, "mean": 0.5, "median": 0.5, "min": 0.0, "percentile_00_5": 0.0,
                  "percentile_99_5": 1.0, "std": 0.2}
        },
    }


def dataset_json(n_training: int, name: str = "CMBQuantDemo", scaling: str | None = None) -> dict[str, Any]:
    """``dataset.json``: one SWI channel, labels background 0 / cmb 1; ``scaling`` 'p99': CMBQuant divides each
    input by its 99th intensity percentile before nnU-Net (CSF level in SWI, stable whatever the field of view)."""
    extra = {"cmbquant_input_scaling": scaling} if scaling else {}
    return {**extra,
        "name": name,
        "description": "Synthetic SWI phantoms with cerebral microbleeds (CMBQuant demo; not for clinical use)",
        "channel_names": {"0": "SWI"},
        "labels": {"background": 0, "cmb": 1},
        "numTraining": n_training,
        "file_ending": ".nii.gz",
        "licence": "MIT (synthetic data)",
    }
