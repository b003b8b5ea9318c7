"""Emergencies get the fixed emergency numbers at once: no retrieval, no model, no waiting in the queue.

Deliberately broad: a false alarm costs one extra message with phone numbers, a missed one may cost much
more. The numbers are nationwide German ones that are free of charge and staffed day and night.
"""

from __future__ import annotations

import re

_EMERGENCY = re.compile(
    r"""
    \b(
      notfall|notarzt|notruf|rettungswagen|krankenwagen|herzinfarkt|schlaganfall|bewusstlos|
      suizid\w*|selbstmord\w*|selbsttötung|umbringen|das\s+leben\s+nehmen|nicht\s+mehr\s+leben|
      lebensmüde|ritzen|sterben\s+will|will\s+sterben|
      vergewaltig\w*|misshandel\w*|missbrauch\w*|häusliche\s+gewalt|gewalt|schlägt\s+mich|bedroht\s+mich|
      brennt|feuer|vergiftung|vergiftet|
      emergency|suicid\w*|kill\s+myself|end\s+my\s+life|want\s+to\s+die|overdose|abuse[ds]?|
      domestic\s+violence|violence|being\s+attacked|heart\s+attack|unconscious|fire
    )\b
    """,
    re.IGNORECASE | re.VERBOSE,
)

MESSAGES = {
    "de": (
        "Wenn Sie oder jemand anderes in Gefahr sind, rufen Sie bitte sofort Hilfe:\n"
        "- Notruf Feuerwehr und Rettungsdienst: 112\n"
        "- Polizei: 110\n"
        "- Telefonseelsorge (kostenlos, rund um die Uhr): 0800 111 0 111 oder 0800 111 0 222\n"
        "- Hilfetelefon „Gewalt gegen Frauen“ (kostenlos, rund um die Uhr): 116 016\n"
        "- Hilfetelefon Sexueller Missbrauch (kostenlos): 0800 22 55 530\n"
        "- Ärztlicher Bereitschaftsdienst: 116 117\n"
        "Sie sind nicht allein. Eine Mitarbeiterin oder ein Mitarbeiter der Verwaltung kann Ihnen in einem "
        "Notfall nicht so schnell helfen wie diese Stellen."
    ),
    "en": (
        "If you or someone else is in danger, please call for help right away:\n"
        "- Emergency (fire brigade, ambulance): 112\n"
        "- Police: 110\n"
        "- Crisis line Telefonseelsorge (free, 24/7): 0800 111 0 111 or 0800 111 0 222\n"
        "- Helpline for women affected by violence (free, 24/7, many languages): 116 016\n"
        "- Medical on-call service: 116 117\n"
        "You are not alone. In an emergency these services can help you faster than the administration."
    ),
}


def is_emergency(text: str) -> bool:
    return bool(_EMERGENCY.search(text))


def emergency_message(language: str) -> str:
    return MESSAGES["de" if language == "de" else "en"]
