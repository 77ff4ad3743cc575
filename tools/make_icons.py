"""Draw the extension and module icons (128x128 PNG) so they are reproducible from source."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Circle, Ellipse, Rectangle

ROOT = Path(__file__).resolve().parents[1]


def icon(path: Path, bars: bool = False) -> None:
    fig = plt.figure(figsize=(1.28, 1.28), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    ax.add_patch(Ellipse((0.5, 0.5), 0.86, 0.94, color="#3a3a3a"))
    ax.add_patch(Ellipse((0.5, 0.5), 0.76, 0.84, color="#b9b9b9"))
    for x, y, r in [(0.32, 0.62, 0.06), (0.62, 0.35, 0.045), (0.66, 0.66, 0.035)]:
        ax.add_patch(Circle((x, y), r, color="#111111"))
        ax.add_patch(Circle((x, y), r + 0.04, fill=False, lw=2, color="#e32020"))
    if bars:
        for i, h in enumerate([0.18, 0.3, 0.42]):
            ax.add_patch(Rectangle((0.2 + 0.2 * i, 0.12), 0.14, h, color="#1f6fd1"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, transparent=True)
    plt.close(fig)


if __name__ == "__main__":
    icon(ROOT / "Resources/Icons/CMBQuant.png")
    icon(ROOT / "CMBQuant/Resources/Icons/CMBQuant.png")
    icon(ROOT / "CMBQuantStats/Resources/Icons/CMBQuantStats.png", bars=True)
