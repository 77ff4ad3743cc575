"""MARS regional counting: label maps or a template atlas -> region, lobe and side per CMB; counts per case."""
from CMBQuantLib.regions.assign import apply_region_map, assign_in_template, assign_regions
from CMBQuantLib.regions.atlas import AtlasError, cache_dir, load_region_atlas, mars_atlas_path
from CMBQuantLib.regions.mapping import MarsEntry, load_mapping
from CMBQuantLib.regions.parcellation import (
    ParcellationError,
    RegionMap,
    RegionRules,
    region_map_from_file,
    region_map_from_labels,
)
from CMBQuantLib.regions.template import RegistrationConfig, RegistrationError, register_to_template

__all__ = [
    "AtlasError", "MarsEntry", "ParcellationError", "RegionMap", "RegionRules", "RegistrationConfig",
    "RegistrationError", "apply_region_map", "assign_in_template", "assign_regions", "cache_dir", "count_case",
    "load_mapping", "load_region_atlas", "mars_atlas_path",
    "region_map_from_file", "region_map_from_labels", "register_to_template",
]
