"""MARS regional counting: label maps or a template atlas -> region, lobe and side per CMB; counts per case."""
from .assign import apply_region_map, assign_in_template, assign_regions
from .atlas import AtlasError, cache_dir, load_region_atlas, mars_atlas_path
from .counts import count_case, count_columns, counts_document, write_counts_json
from .mapping import MarsEntry, load_mapping
from .parcellation import (
    ParcellationError,
    RegionMap,
    RegionRules,
    region_map_from_file,
    region_map_from_labels,
)
from .template import RegistrationConfig, RegistrationError, register_to_template

__all__ = [
    "AtlasError", "MarsEntry", "ParcellationError", "RegionMap", "RegionRules", "RegistrationConfig",
    "RegistrationError", "apply_region_map", "assign_in_template", "assign_regions", "cache_dir", "count_case",
    "count_columns", "counts_document", "load_mapping", "load_region_atlas", "mars_atlas_path",
    "region_map_from_file", "region_map_from_labels", "register_to_template", "write_counts_json",
]
