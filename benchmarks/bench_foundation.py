"""Phantom -> candidates -> segmentation node at 512x512x160, against labelling the same mask alone.

Prints the time of each stage and the ratio of our candidates+segments path to ``cc3d`` and
``scipy.ndimage.label`` on the same mask, all measured in this run. Run: python benchmarks/bench_foundation.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "CMBQuant")]

from CMBQuantLib.core.scene import headless_context
from CMBQuantLib.core.segments import create_cmb_segmentation
from CMBQuantLib.detection.candidates import find_candidates
from CMBQuantLib.phantoms.phantom import PhantomConfig, builtin_phantom
from CMBQuantLib.volumes.images import volume_node_from_array


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    cfg = PhantomConfig(n_cmbs=40, spacing=(0.45, 0.45, 1.2), shape=(512, 512, 160), diameter_mm=(2.0, 8.0))
    t0 = time.perf_counter()
    ph = builtin_phantom(seed=1, config=cfg)
    t_phantom = time.perf_counter() - t0
    mask = ph.cmb_labels > 0
    print(f"grid {ph.image.shape[::-1]} (i, j, k), {len(ph.cmbs)} CMBs; phantom synthesis {t_phantom:.2f} s")

    import cc3d
    from scipy import ndimage

    t_cc3d, _ = best_of(lambda: cc3d.connected_components(mask.view(np.uint8), connectivity=26))
    t_scipy, _ = best_of(lambda: ndimage.label(mask, structure=np.ones((3, 3, 3))))
    t_cand, (records, labels) = best_of(lambda: find_candidates(mask, ph.geometry, image=ph.image))
    ctx = headless_context()
    volume = volume_node_from_array(ctx, ph.image, ph.geometry, "swi")

    def to_segments():
        seg = create_cmb_segmentation(ctx, volume, labels, records)
        ctx.scene.RemoveNode(seg)

    t_seg, _ = best_of(to_segments)
    ours = t_cand + t_seg
    print(f"cc3d.connected_components (26):    {t_cc3d * 1000:8.1f} ms")
    print(f"scipy.ndimage.label (26):          {t_scipy * 1000:8.1f} ms")
    print(f"find_candidates (records):         {t_cand * 1000:8.1f} ms")
    print(f"create_cmb_segmentation (MRML):    {t_seg * 1000:8.1f} ms")
    print(f"ratio candidates+segments / cc3d:  {ours / t_cc3d:8.1f}x")
    print(f"ratio candidates+segments / scipy: {ours / t_scipy:8.1f}x")
    assert len(records) == len(ph.cmbs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
