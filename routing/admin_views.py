"""Kept for ``leads.api_serializers``, which imports the rule wording from here.

The rule editor's pages are in ``routing.admin`` (``dry_run``, ``changes``, ``history``) and
the wording in ``routing.describe``: import from there.
"""

from routing.describe import criteria_text, when_text

__all__ = ["criteria_text", "when_text"]
