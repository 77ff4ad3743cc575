"""A PNG overview: one axial tile per CMB with the CMB circled in its status colour (for reports and the demo)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.core.segments import STATUS_COLOURS


def save_overview_png(image: np.ndarray, records: list[CMBRecord], path: str | Path, spacing: np.ndarray,
                      max_tiles: int = 12, fov_mm: float = 80.0) -> Path:
    """Axial crops (``fov_mm`` wide) centred on each CMB, window from the brain's intensity percentiles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle

    recs = records[:max_tiles]
    n = max(len(recs), 1)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows), squeeze=False)
    lo, hi = np.percentile(image[image > 0], [1, 99.5]) if (image > 0).any() else (0, 1)
    half = (fov_mm / 2 / np.asarray(spacing)[:2]).astype(int)
    for ax in axes.ravel():
        ax.axis("off")
    if not recs:
        k = image.shape[0] // 2
        axes[0, 0].imshow(image[k], cmap="gray", vmin=lo, vmax=hi, origin="lower")
        axes[0, 0].set_title("no CMB found", fontsize=9)
    for ax, rec in zip(axes.ravel(), recs):
        k = int(np.clip(round(rec.k), 0, image.shape[0] - 1))
        ci, cj = int(round(rec.i)), int(round(rec.j))
        i0, i1 = max(ci - half[0], 0), min(ci + half[0], image.shape[2])
        j0, j1 = max(cj - half[1], 0), min(cj + half[1], image.shape[1])
        ax.imshow(image[k, j0:j1, i0:i1], cmap="gray", vmin=lo, vmax=hi, origin="lower",
                  extent=(i0 - 0.5, i1 - 0.5, j0 - 0.5, j1 - 0.5))
        radius = max(rec.diameter_eq_mm / 2 / float(spacing[0]) + 3, 4)
        ax.add_patch(Circle((rec.i, rec.j), radius, fill=False, lw=1.5, color=STATUS_COLOURS.get(rec.status, "y")))
        if rec.p_cmb is not None:  # the CMB filter's probability, and whether it rejected the spot
            conf = f" p_cmb={rec.p_cmb:.2f}" + (" (filter)" if rec.reason == "filter" else "")
        else:
            conf = f" p={rec.confidence_mean:.2f}" if rec.confidence_mean is not None else ""
        where = f" {rec.region}/{rec.lobe}" if rec.region else ""
        ax.set_title(f"CMB {rec.cmb_id:03d} k={k} {rec.diameter_eq_mm:.1f}mm{conf}{where}", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
