"""The routing app's admin: the rule editor, the brokerage settings and the routing records.

Importing this package registers every routing model admin (Django's autodiscovery imports
it); the hand-off targets' admin is the ISA's (``leads.isa.admin``). The rule editor's
messages are importable from here.
"""

from routing.admin import brokerage, records, rules  # noqa: F401  (register their admins)
from routing.admin.rule_forms import (
    CATCH_ALL_ALWAYS_ACTIVE,
    CATCH_ALL_NO_CRITERIA,
    CATCH_ALL_NO_WINDOWS,
    NEEDS_CRITERIA,
)

__all__ = ["CATCH_ALL_ALWAYS_ACTIVE", "CATCH_ALL_NO_CRITERIA", "CATCH_ALL_NO_WINDOWS",
           "NEEDS_CRITERIA"]
