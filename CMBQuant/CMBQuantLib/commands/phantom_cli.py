"""``cmbquant phantom``: write an SWI-like phantom, its CMB label map, anatomy and CMB table."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from CMBQuantLib.phantoms.phantom import PhantomConfig, builtin_phantom, load_label_map, synthesize


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--case-id", default="phantom", help="file name prefix (default: phantom)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same phantom)")
    parser.add_argument("--label-map", type=Path, help="FreeSurfer/SynthSeg label map (1 mm); default: built-in head")
    parser.add_argument("--n-cmbs", type=int, help="number of CMBs (default: random 3-12)")
    parser.add_argument("--spacing", type=float, nargs=3, default=(0.9, 0.9, 2.0), metavar=("X", "Y", "Z"),
                        help="output voxel size in mm (default 0.9 0.9 2.0)")
    parser.add_argument("--shape", type=int, nargs=3, metavar=("I", "J", "K"), help="output grid size in voxels")
    parser.add_argument("--rotation", type=float, nargs=3, default=(0.0, 0.0, 0.0), metavar=("RX", "RY", "RZ"),
                        help="oblique acquisition: rotation in degrees")
    parser.add_argument("--noise", type=float, default=0.03, help="Rician noise sigma (white matter ~0.62)")
    parser.add_argument("--ring-artefacts", type=int, default=0, metavar="N",
                        help="add N ring artefacts: round dark spots ringed bright, a mimic (default 0: none)")


def config_from_args(args: argparse.Namespace) -> PhantomConfig:
    cfg = PhantomConfig(spacing=tuple(args.spacing), rotation_deg=tuple(args.rotation), noise_sigma=args.noise,
                        n_ring_artefacts=args.ring_artefacts)
    if args.n_cmbs is not None:
        cfg.n_cmbs = args.n_cmbs
    if args.shape:
        cfg.shape = tuple(args.shape)
    return cfg


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.label_map:
        labels, geom = load_label_map(args.label_map)
        ph = synthesize(labels, geom, seed=args.seed, config=cfg)
    else:
        ph = builtin_phantom(args.seed, cfg)
    paths = ph.write(args.out, args.case_id)
    print(json.dumps({k: str(v) for k, v in paths.items()} | {"n_cmbs": len(ph.cmbs)}))
    return 0
