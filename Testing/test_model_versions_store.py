"""Model versions in the store: a child entry made from a parent (filter copied, checkpoint shared), its
``version.json`` (never overwritten), the parent untouched and both valid, lineage, and the model picker's labels."""
from __future__ import annotations

import json

import pytest

from CMBQuantLib.core.atomic import sha256_file
from CMBQuantLib.detection.nnunet.model_choices import model_choices
from CMBQuantLib.detection.nnunet.model_store import (
    DEMO_MODEL_NAME,
    ModelError,
    ensure_demo_model,
    models_dir,
    validate_model,
)
from CMBQuantLib.detection.nnunet.model_versions import (
    VERSION_JSON,
    lineage,
    list_versions,
    publish_entry,
    read_version,
    record_version,
    stage_entry_from,
)


@pytest.fixture()
def store(tmp_path):
    home = tmp_path / "home"
    return home, ensure_demo_model(home)


def test_a_child_version_is_recorded_and_the_parent_is_untouched(store):
    home, parent = store
    parent_files = {p.relative_to(parent): sha256_file(p) for p in parent.rglob("*") if p.is_file()}
    root = read_version(parent)
    assert (root.name, root.parent, root.kind) == (DEMO_MODEL_NAME, "", "root") and len(root.filter_sha256) == 64
    staging = stage_entry_from(parent, "SiteA_v1", home)
    assert staging.name.startswith(".") and not (staging / ".source_sha256").exists()
    v = record_version(staging, "SiteA_v1", DEMO_MODEL_NAME, ["c1", "c2"], {"holdout_after": {"fp_per_scan": 0.5}},
                       kind="filter", labels={"rows": 12})
    child = publish_entry(staging, "SiteA_v1", home)
    assert child == models_dir(home) / "SiteA_v1"
    saved = json.loads((child / VERSION_JSON).read_text())
    assert saved["name"] == "SiteA_v1" and saved["parent"] == DEMO_MODEL_NAME and saved["cases"] == ["c1", "c2"]
    assert saved["kind"] == "filter" and saved["labels"] == {"rows": 12} and saved["created"] == v.created
    assert saved["filter_sha256"] == root.filter_sha256  # same filter until train-filter writes its own
    assert saved["metrics"] == {"holdout_after": {"fp_per_scan": 0.5}}
    assert validate_model(child).folder.is_dir() and validate_model(parent).folder.is_dir()
    # the child's filter files are its own copies: writing them cannot reach the parent
    filt = validate_model(child).folder / "cmb_filter" / "filter.json"
    filt.write_text(filt.read_text().replace("CMBQuantDemoFilter", "Changed"))
    assert {p.relative_to(parent): sha256_file(p) for p in parent.rglob("*") if p.is_file()} == parent_files


def test_versions_are_never_overwritten(store):
    home, parent = store
    child = publish_entry(stage_entry_from(parent, "V1", home), "V1", home)
    record_version(child, "V1", DEMO_MODEL_NAME, [], {})
    with pytest.raises(ModelError, match="never overwritten"):
        record_version(child, "V1", DEMO_MODEL_NAME, [], {})
    with pytest.raises(ModelError, match="already exists"):
        stage_entry_from(parent, "V1", home)
    with pytest.raises(ModelError, match="not a valid new model name"):
        stage_entry_from(parent, DEMO_MODEL_NAME, home)
    with pytest.raises(ValueError, match="kind"):
        record_version(child, "V1", "", [], {}, kind="other")


def test_lineage_and_the_model_picker_show_parents(store):
    home, parent = store
    v1 = publish_entry(stage_entry_from(parent, "V1", home), "V1", home)
    record_version(v1, "V1", DEMO_MODEL_NAME, ["a"], {})
    (v1 / "learning").mkdir()
    (v1 / "learning" / "report.html").write_text("V1's own report")
    v2 = publish_entry(stage_entry_from(v1, "V2", home), "V2", home)
    assert not (v2 / "learning").exists() and not (v2 / VERSION_JSON).exists()  # a child's own, never inherited
    record_version(v2, "V2", "V1", ["a", "b", "c"], {}, kind="nnunet")
    assert lineage("V2", home) == ["V2", "V1", DEMO_MODEL_NAME]
    assert [(v.name, v.parent, v.kind) for v in list_versions(home)] == [
        (DEMO_MODEL_NAME, "", "root"), ("V1", DEMO_MODEL_NAME, "filter"), ("V2", "V1", "nnunet")]
    labels = dict((name, label) for label, name in model_choices(home))
    assert labels["V1"] == "V1 (from CMBQuantDemo, 1 reviewed case)"
    assert labels["V2"] == "V2 (from V1, 3 reviewed cases)"
    (v2 / VERSION_JSON).write_text("{broken")
    assert "version record unreadable" in dict((n, lab) for lab, n in model_choices(home))["V2"]
