"""Which region path a case takes (the Slicer panel's Assign regions), on a real slicer-core label-map node."""
import numpy as np

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.core.scene import headless_context
from CMBQuantLib.regions.case_regions import assign_case_regions, counts_text, parcellation_of_node
from CMBQuantLib.volumes.images import volume_node_from_array


def cube_parcellation():
    """A 3 cm cube of left superior-frontal cortex (1028) in a 1 mm grid of background."""
    lab = np.zeros((60, 60, 60), np.int16)
    lab[15:45, 15:45, 15:45] = 1028
    return lab, Geometry(np.diag([1.0, 1.0, 1.0, 1.0]), lab.shape)


def test_the_subject_parcellation_node_wins_and_is_named_as_the_source():
    lab, geom = cube_parcellation()
    node = volume_node_from_array(headless_context(), lab, geom, "aparc+aseg", labelmap=True)
    parcellation = parcellation_of_node(node)
    assert parcellation.name == "aparc+aseg" and parcellation.labels.shape == (60, 60, 60)
    np.testing.assert_allclose(parcellation.geometry.ijk_to_ras, geom.ijk_to_ras)
    template_calls = []
    out = assign_case_regions([CMBRecord(cmb_id=1, r=30, a=30, s=30)], None, None, parcellation,
                              template_path=lambda *a, **k: template_calls.append(k))
    assert (out[0].region, out[0].lobe, out[0].side, out[0].region_source) == (
        "lobar", "frontal", "L", "parcellation:aparc+aseg")
    assert template_calls == []


def test_without_a_parcellation_the_swi_goes_to_the_template_path():
    image, geom = np.zeros((4, 4, 4), np.float32), Geometry(np.eye(4), (4, 4, 4))
    records = [CMBRecord(cmb_id=1, r=1, a=2, s=3)]
    calls = []

    def template(recs, swi_image, swi_geometry):
        calls.append((recs, swi_image, swi_geometry))
        return [CMBRecord(cmb_id=1, region="deep", region_source="template")]

    assert parcellation_of_node(None) is None
    out = assign_case_regions(records, image, geom, None, template_path=template)
    assert out[0].region == "deep" and len(calls) == 1
    assert calls[0][0] is records and calls[0][1] is image and calls[0][2] is geom


def test_counts_text_lists_the_non_zero_counts_in_order():
    counts = {"total_definite": 3, "lobar_definite": 2, "deep_definite": 0, "infratentorial_definite": 1}
    assert counts_text(counts) == "total_definite: 3, lobar_definite: 2, infratentorial_definite: 1"
    assert counts_text({"total": 0}) == ""
