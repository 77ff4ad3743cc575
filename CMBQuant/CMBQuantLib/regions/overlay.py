"""A PNG of the warped region map over the SWI, so a reader can see at a glance whether the registration held.

Four views on the subject grid the regions were made on: axial slices at 25, 45 and 65 % of the brain's height and
one coronal slice through its centre; region colours blended at 40 % over the grey SWI. Written with zlib alone
(no imaging library), so it works wherever the pipeline does.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

# RGB per region code (mapping.CODES): lobar greens/yellows, deep reds/oranges, infratentorial blues.
COLOURS = {
    1: (60, 90, 230), 2: (40, 170, 240), 3: (230, 60, 40), 4: (240, 120, 30), 5: (200, 30, 120), 6: (250, 170, 40),
    7: (170, 60, 200), 8: (200, 110, 90), 9: (60, 200, 80), 10: (180, 220, 40), 11: (40, 190, 160),
    12: (120, 240, 120), 13: (240, 230, 60), 14: (100, 200, 100),
}
ALPHA = 0.4
OVERLAY_FILE = "regions_overlay.png"  # in the case folder (docs/case-folder.md)


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode an (H, W, 3) uint8 array as PNG."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def _grey(image: np.ndarray, brain: np.ndarray) -> np.ndarray:
    vals = image[brain] if brain.any() else image.ravel()
    lo, hi = (np.percentile(vals, [1, 99]) if vals.size else (0.0, 1.0))
    return np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1)


def _blend(grey: np.ndarray, codes: np.ndarray) -> np.ndarray:
    rgb = np.repeat((grey * 255)[..., None], 3, axis=-1)
    lut = np.zeros((256, 3))
    for code, colour in COLOURS.items():
        lut[code] = colour
    on = codes > 0
    rgb[on] = (1 - ALPHA) * rgb[on] + ALPHA * lut[codes[on]]
    return rgb.astype(np.uint8)


def overlay_png(image: np.ndarray, codes: np.ndarray) -> bytes:
    """PNG of region ``codes`` over ``image`` (both [k, j, i] on one grid, isotropic voxels expected)."""
    brain = codes > 0
    grey = _grey(np.asarray(image, float), brain)
    ks = np.flatnonzero(brain.any(axis=(1, 2)))
    k_lo, k_hi = (int(ks[0]), int(ks[-1])) if len(ks) else (0, codes.shape[0] - 1)
    views = [(grey[k], codes[k]) for k in (int(k_lo + f * (k_hi - k_lo)) for f in (0.25, 0.45, 0.65))]
    j = int(np.flatnonzero(brain.any(axis=(0, 2))).mean()) if brain.any() else codes.shape[1] // 2
    views.append((grey[:, j, :], codes[:, j, :]))
    tiles = [_blend(g[::-1], c[::-1]) for g, c in views]  # row 0 at the top = highest index (anterior / superior)
    height = max(t.shape[0] for t in tiles)
    padded = [np.pad(t, ((0, height - t.shape[0]), (0, 4), (0, 0))) for t in tiles]
    return png_bytes(np.concatenate(padded, axis=1))
