"""Texts people send us: the carrier keywords (STOP, START, HELP) and who opted out.

An opted-out number gets no text from leadrouter (``channels.wanted_channels`` and
``channels.send_sms`` both ask ``is_opted_out``) until it texts START. The claim by text
("Reply 1 to claim") is answered by ``leads.sms_views``, which may call the claim service.
"""

from __future__ import annotations

from datetime import datetime

from notifications.models import TextOptOut

# Twilio's default opt-out, opt-in and help keywords (matched on the whole message).
STOP_WORDS = frozenset({"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
                        "OPTOUT", "OPT OUT", "REVOKE"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
CLAIM_WORDS = frozenset({"1", "CLAIM"})

#: The line an offer's text ends with.
CLAIM_PROMPT = "Reply 1 to claim."
HELP_REPLY = ("leadrouter lead alerts: reply 1 to claim your newest open offer. "
              "Reply STOP to stop texts, START to get them again.")
START_REPLY = "You will get leadrouter texts again. Reply STOP to stop them."
UNKNOWN_NUMBER_REPLY = ("This number is not on any leadrouter agent's profile, so it cannot "
                        "claim leads. Reply STOP to stop texts.")
UNKNOWN_WORD_REPLY = "Reply 1 to claim your newest open offer, HELP for help, STOP to stop texts."


def keyword(body: str) -> str:
    """The message as a keyword: trimmed, upper case, inner spaces single, no end dots."""
    return " ".join(body.split()).upper().rstrip(".!")


def is_opted_out(phone: str) -> bool:
    return bool(phone) and TextOptOut.objects.filter(phone=str(phone)).exists()


def opt_out(*, phone: str, keyword: str, now: datetime) -> None:
    """The number texted STOP (or the provider refused it as unsubscribed)."""
    TextOptOut.objects.get_or_create(phone=str(phone),
                                     defaults={"opted_out_at": now, "keyword": keyword[:20]})


def opt_in(*, phone: str) -> bool:
    """The number texted START: texts go to it again. Whether it was opted out."""
    deleted, _ = TextOptOut.objects.filter(phone=str(phone)).delete()
    return bool(deleted)
