"""Routing configuration kept as code: one YAML file to review, version, export and import.

``schema`` is the file's shape (the format, documented there), ``read`` parses and checks a
file, ``apply`` writes a checked file to the database in one transaction and ``export`` writes
the database back as a file; ``as_config`` reads a checked file as the engine's
configuration without applying it (the back-test). Callers import from here.
"""

from routing.config_file.apply import ImportSummary, apply_routing_file
from routing.config_file.as_config import file_as_config
from routing.config_file.export import export_routing
from routing.config_file.read import RoutingFileError, load_routing_file
from routing.config_file.schema import RoutingFile

__all__ = [
    "ImportSummary",
    "RoutingFile",
    "RoutingFileError",
    "apply_routing_file",
    "export_routing",
    "file_as_config",
    "load_routing_file",
]
