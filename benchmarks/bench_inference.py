"""Inference benchmarks (CPU or GPU, whatever this machine has).

1. Our predictor vs a raw ``nnUNetPredictor`` on the same model, input and settings (target: ratio <= 1.05).
2. A batch of 8 cases in one worker (model loaded once) vs one worker process per case (target: >= 1.5x faster
   per case).
3. The two-stage detector's added stages (brain mask, dark-spot screen, blobs, features, CMB filter) vs the nnU-Net
   stage on the same 512 x 512 x 160 scan (target: added / nnU-Net <= 1.0, i.e. the whole detector <= 2x).

    python benchmarks/bench_inference.py [--model FOLDER] [--repeats 3]

Default model: the shipped demo model (imported into a temporary CMBQUANT_HOME).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "CMBQuant"))


def bench_predictor(model_dir: Path, image, spacing, repeats: int) -> tuple[float, float]:
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    from CMBQuantLib.detection.nnunet.model_store import validate_model
    from CMBQuantLib.detection.nnunet.predictor import CMBPredictor, PredictorOptions

    spec = validate_model(model_dir)
    ours = CMBPredictor(spec, PredictorOptions(device="cpu", step_size=1.0, mirroring=False))
    raw = nnUNetPredictor(tile_step_size=1.0, use_gaussian=True, use_mirroring=False,
                          perform_everything_on_device=False, device=torch.device("cpu"), verbose=False,
                          allow_tqdm=False)
    raw.initialize_from_trained_model_folder(str(spec.folder), spec.folds, spec.checkpoint_name)
    props = {"spacing": [float(s) for s in spacing]}
    arr = image[None].astype("float32")
    if ours.input_scaling == "p99":  # raw nnU-Net gets the input already scaled; ours scales it itself (counted)
        from CMBQuantLib.detection.nnunet.predictor import p99_scale

        arr = arr / p99_scale(image)
    t_ours, t_raw = [], []
    ours.predict(image, spacing)  # warm-up both
    raw.predict_single_npy_array(arr, props, None, None, True)
    for _ in range(repeats):  # interleaved so machine load hits both alike
        t0 = time.perf_counter()
        raw.predict_single_npy_array(arr, props, None, None, True)
        t_raw.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours.predict(image, spacing)
        t_ours.append(time.perf_counter() - t0)
    return statistics.median(t_ours), statistics.median(t_raw)


def bench_batch(model: str, inputs: list[Path], work: Path) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "CMBQuant"))
    base = [sys.executable, "-m", "CMBQuantLib.pipeline.worker", "--model", model, "--device", "cpu"]
    t0 = time.perf_counter()
    subprocess.run(base + [*map(str, inputs), "--out", str(work / "batch"), "--result-file", str(work / "b.json")],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i, p in enumerate(inputs):
        subprocess.run(base + [str(p), "--out", str(work / "single"), "--result-file", str(work / f"s{i}.json")],
                       env=env, check=True, stdout=subprocess.DEVNULL)
    t_single = time.perf_counter() - t0
    return t_batch / len(inputs), t_single / len(inputs)


def bench_two_stage(model_dir: Path, repeats: int) -> tuple[float, float, int]:
    """Median seconds of the nnU-Net stage and of the added stages on one clinical-size scan, and candidates."""
    from CMBQuantLib.detection.nnunet.filter_select import select_filter
    from CMBQuantLib.detection.nnunet.model_store import validate_model
    from CMBQuantLib.detection.nnunet.prediction import predict_volume
    from CMBQuantLib.detection.nnunet.predictor import CMBPredictor, PredictorOptions
    from CMBQuantLib.detection.two_stage import detect
    from CMBQuantLib.phantoms.phantom import PhantomConfig, builtin_phantom

    ph = builtin_phantom(7, PhantomConfig(spacing=(0.45, 0.45, 1.2), shape=(512, 512, 160)))
    spec = validate_model(model_dir)
    pred = CMBPredictor(spec, PredictorOptions(device="cpu", step_size=1.0, mirroring=False))
    cmb_filter = select_filter("auto", spec.folder) or select_filter("demo", None)
    sp = ph.geometry.spacing[::-1]
    t_nn, t_added, n = [], [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        prob, _ = predict_volume(pred, ph.image, sp)
        t_nn.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        n = len(detect(ph.image, ph.geometry, prob, cmb_filter).records)
        t_added.append(time.perf_counter() - t0)
    return statistics.median(t_nn), statistics.median(t_added), n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder (default: the shipped demo model)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cases", type=int, default=8)
    ap.add_argument("--only", choices=["1", "2", "3"], default=None, help="run one benchmark")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cmbq-bench-"))
    os.environ.setdefault("CMBQUANT_HOME", str(work / "home"))
    from CMBQuantLib.detection.nnunet.model_store import resolve_model
    from CMBQuantLib.phantoms.phantom import PhantomConfig, builtin_phantom

    model_dir = resolve_model(a.model)
    print(f"machine: {os.cpu_count()} CPU cores; model {model_dir}")
    if a.only in (None, "3"):
        t_nn, t_added, n = bench_two_stage(model_dir, a.repeats)
        print(f"3) two-stage detector on 512 x 512 x 160: nnU-Net stage {t_nn:.1f} s, added stages {t_added:.1f} s "
              f"({n} candidates), ratio {t_added / t_nn:.2f} (target <= 1.0; whole detector {1 + t_added / t_nn:.2f}x)")
    if a.only == "3":
        return 0
    ph = builtin_phantom(5, PhantomConfig(spacing=(0.9, 0.9, 2.0)))
    print(f"1) predictor on one phantom {ph.image.shape} (k, j, i), step 1.0, no mirroring, {a.repeats} repeats")
    t_ours, t_raw = bench_predictor(model_dir, ph.image, ph.geometry.spacing[::-1], a.repeats)
    print(f"   ours {t_ours:.2f} s, raw nnUNetPredictor {t_raw:.2f} s, ratio {t_ours / t_raw:.3f} (target <= 1.05)")
    cfg = PhantomConfig(spacing=(1.5, 1.5, 3.0))
    phantoms = [builtin_phantom(10 + i, cfg) for i in range(a.cases)]
    inputs = [p.write(work / "in", f"c{i}")["image"] for i, p in enumerate(phantoms)]
    print(f"2) {a.cases} cases of {phantoms[0].image.shape}: one worker vs one process per case")
    per_batch, per_single = bench_batch(str(model_dir), inputs, work)
    print(f"   batch {per_batch:.2f} s/case, separate processes {per_single:.2f} s/case, "
          f"speed-up {per_single / per_batch:.2f}x (target >= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
