"""The label -> MARS table: specific labels, the documented choices, user override and malformed tables."""
import pytest

from CMBQuantLib.regions.mapping import CODES, MappingError, load_mapping, lookup_label


@pytest.fixture(scope="module")
def table():
    return load_mapping()


@pytest.mark.parametrize("label, region, lobe, side", [
    (1035, "lobar", "insula", "L"),
    (2035, "lobar", "insula", "R"),
    (16, "infratentorial", "brainstem", "M"),
    (13, "deep", "basal_ganglia", "L"),
    (52, "deep", "basal_ganglia", "R"),
    (2028, "lobar", "frontal", "R"),
    (1029, "lobar", "parietal", "L"),
    (1015, "lobar", "temporal", "L"),
    (2011, "lobar", "occipital", "R"),
    (10, "deep", "thalamus", "L"),
    (49, "deep", "thalamus", "R"),
    (8, "infratentorial", "cerebellum", "L"),
    (46, "infratentorial", "cerebellum", "R"),
    (17, "lobar", "temporal", "L"),  # hippocampus: temporal lobar (documented choice)
    (54, "lobar", "temporal", "R"),  # amygdala
    (28, "deep", "deep_white_matter", "L"),  # ventral DC: deep (85 % deep WM in the MARS atlas)
    (3, "lobar", "", "L"),  # aseg-only cortex: lobar, lobe unknown
    (2, "white_matter", "", "L"),  # decided by position
    (253, "deep", "corpus_callosum", "M"),
    (4, "none", "", "L"),
    (24, "none", "", ""),
])
def test_specific_labels(table, label, region, lobe, side):
    e = lookup_label(table, label)
    assert (e.region, e.lobe, e.side) == (region, lobe, side)


def test_dk_lobes_cover_all_cortical_parcels(table):
    lobes = {lookup_label(table, lab).lobe for lab in range(1001, 1036) if lab != 1004}
    assert lobes == {"frontal", "parietal", "temporal", "occipital", "insula"}
    for lab in range(1001, 1036):
        if lab == 1004:
            continue
        left, right = lookup_label(table, lab), lookup_label(table, lab + 1000)
        assert (left.region, left.lobe) == (right.region, right.lobe)
    # Cingulate split between frontal (anterior) and parietal (posterior/isthmus).
    assert [lookup_label(table, x).lobe for x in (1002, 1026, 1010, 1023)] == ["frontal", "frontal", "parietal",
                                                                               "parietal"]


def test_codes_match_mars_atlas_numbering():
    assert CODES[1] == ("infratentorial", "brainstem") and CODES[5] == ("deep", "internal_capsule")
    assert CODES[13] == ("lobar", "insula") and CODES[8] == ("deep", "deep_white_matter")


def test_unknown_label_is_non_brain(table):
    assert lookup_label(table, 999).region == "none"


def test_user_table_overrides(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("label,name,region,lobe,side\n28,Left-VentralDC,infratentorial,brainstem,M\n")
    t = load_mapping(p)
    assert (t[28].region, t[28].lobe) == ("infratentorial", "brainstem")
    assert lookup_label(t, 16).region == "none"  # a user table replaces the packaged one wholesale


@pytest.mark.parametrize("body, msg", [
    ("label,region,lobe,side\n16,infratentorial,frontal,M\n", "lobe 'frontal' not allowed"),
    ("label,region,lobe,side\n16,supratentorial,,M\n", "region 'supratentorial'"),
    ("label,region,lobe,side\nx,deep,thalamus,L\n", "not an integer"),
    ("label,region,lobe,side\n10,deep,thalamus,Q\n", "side 'Q'"),
    ("label,region\n10,deep\n", "needs columns"),
    ("label,region,lobe,side\n10,deep,thalamus,L\n10,deep,thalamus,L\n", "appears twice"),
])
def test_malformed_tables_are_refused(tmp_path, body, msg):
    p = tmp_path / "bad.csv"
    p.write_text(body)
    with pytest.raises(MappingError, match=msg):
        load_mapping(p)
