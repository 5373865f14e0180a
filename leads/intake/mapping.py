"""What every other system's format shares when it is read as intake fields (another CRM's
CSV row, a Follow Up Boss event, a portal's e-mail): the lead keeps one e-mail and one phone,
and the rest goes into its message so that nothing sent is lost. Pure: no database."""

from __future__ import annotations

import re
from collections.abc import MutableMapping, Sequence
from typing import Any


def keep_first_contacts(fields: MutableMapping[str, Any], notes: list[str], *,
                        emails: Sequence[str], phones: Sequence[str]) -> None:
    """The first e-mail and phone become the lead's; the others are noted in its message."""
    for name, values, words in (("email", emails, "Other emails"),
                                ("phone", phones, "Other phones")):
        if values:
            fields[name] = values[0]
            if values[1:]:
                notes.append(f"{words}: {', '.join(values[1:])}")



def plain_price(text: str) -> str:
    """A price as people write it, read as the number intake takes: ``$1,250,000`` and
    ``1 250 000 USD`` are ``1250000``."""
    return re.sub(r"[$,\s]|USD", "", text.strip())
