"""Put a trained CMB filter into the shipped demo model zip (``<trainer folder>/cmb_filter/``), replacing any
filter it held. Entries keep a fixed timestamp, so the same files give the same zip (and the same sha256).

    python tools/pack_demo_filter.py /tmp/fw/model/cmb_filter
"""
from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ZIP = ROOT / "CMBQuant" / "CMBQuantLib" / "models" / "CMBQuantDemo.zip"
TRAINER = "Dataset501_CMBQuantDemo/nnUNetTrainer__nnUNetPlans__3d_fullres"
STAMP = (2026, 12, 1, 0, 0, 0)


def pack(filter_dir: Path, zip_path: Path = ZIP) -> Path:
    with zipfile.ZipFile(zip_path) as src:
        kept = {n: src.read(n) for n in src.namelist() if "/cmb_filter/" not in n}
    for f in sorted(filter_dir.iterdir()):
        if f.is_file():
            kept[f"{TRAINER}/cmb_filter/{f.name}"] = f.read_bytes()
    tmp = zip_path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(kept):
            info = zipfile.ZipInfo(name, STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, kept[name])
    tmp.replace(zip_path)
    return zip_path


if __name__ == "__main__":
    out = pack(Path(sys.argv[1]))
    print(f"{out}: {', '.join(zipfile.ZipFile(out).namelist())}")
