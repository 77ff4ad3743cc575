"""Optional packages are installed only with consent, and only the missing ones (core/dependencies.py)."""
from CMBQuantLib.core.dependencies import Requirement, ensure, missing

PRESENT = Requirement("json", "json")
ABSENT = Requirement("cmbquant_no_such_package_xyz", "no-such-package==1.0")


def test_missing_lists_only_unimportable_packages():
    assert missing([PRESENT, ABSENT]) == [ABSENT]


def test_nothing_is_asked_or_installed_when_all_present():
    asked, installed = [], []
    assert ensure([PRESENT], "Test", lambda m: asked.append(m) or True, installed.append) is True
    assert asked == [] and installed == []


def test_declining_installs_nothing_and_returns_false():
    installed = []
    assert ensure([PRESENT, ABSENT], "Detection", lambda m: False, installed.append) is False
    assert installed == []


def test_consent_installs_exactly_the_missing_specs_and_names_them():
    asked, installed = [], []
    ok = ensure([PRESENT, ABSENT], "Detection", lambda m: asked.append(m) or True, installed.append)
    assert installed == [["no-such-package==1.0"]]
    assert "Detection" in asked[0] and "no-such-package==1.0" in asked[0]
    assert ok is False  # the fake installer installed nothing: never reported as success
