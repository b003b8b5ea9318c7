"""SiWi's own fixed texts, per language; German is the reference, English the fallback for the rest."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "de": {
        "no_answer": "Dazu habe ich in meinen Quellen leider keine gesicherte Information. "
                     "Gern verbinde ich Sie mit einer Mitarbeiterin oder einem Mitarbeiter.",
        "handoff": "Gern verbinde ich Sie mit einer Mitarbeiterin oder einem Mitarbeiter. {contact}",
        "busy": "Im Moment sind viele Anfragen in Bearbeitung. Bitte versuchen Sie es gleich noch einmal.",
        # human handoff (bot/handoff_service.py)
        "handoff_topic": "Bei diesem Anliegen verbinde ich Sie gern direkt mit einer Mitarbeiterin oder einem "
                         "Mitarbeiter.",
        "handoff_waiting": "Ich habe Ihr Anliegen an unser Team weitergegeben. Sie sind an Position {position} "
                           "der Warteschlange; die Wartezeit beträgt voraussichtlich etwa {wait}.",
        "handoff_waiting_unstaffed": "Ihr Anliegen ist in unserer Warteschlange (Position {position}), aber im "
                                     "Moment ist niemand aus dem Team erreichbar. {opening}Sie können auch "
                                     "einen Rückruf anfordern.",
        "handoff_assigned_name_and_team": "{name} aus dem Team {team} ist jetzt für Sie da.",
        "handoff_assigned_name": "{name} ist jetzt für Sie da.",
        "handoff_assigned_team": "Eine Mitarbeiterin oder ein Mitarbeiter aus dem Team {team} ist jetzt für Sie da.",
        "handoff_closed_staff": "Das Gespräch mit unserem Team ist beendet. Vielen Dank! Bei weiteren Fragen bin "
                                "ich wieder für Sie da.",
        "handoff_closed_citizen": "Sie haben das Gespräch mit unserem Team beendet. Bei weiteren Fragen bin ich "
                                  "wieder für Sie da.",
        "handoff_offline": "Im Moment ist leider niemand aus unserem Team im Chat erreichbar. {opening}{contact} "
                           "Gern rufen wir Sie auch zurück: Hinterlassen Sie uns dafür Ihre Telefonnummer oder "
                           "E-Mail-Adresse.",
        "opening": "Wir sind {when} wieder für Sie da. ",
        "contact_phone": "Telefon: {phone} ({hours})",
        "contact_email": "E-Mail: {email}",
        "contact_appointment": "Termin online buchen: {url}",
        "minutes_one": "1 Minute",
        "minutes_many": "{n} Minuten",
        "callback_received": "Vielen Dank! Wir haben Ihre Rückrufbitte erhalten und melden uns so bald wie "
                             "möglich bei Ihnen.",
        "callback_consent_required": "Bitte bestätigen Sie, dass wir Ihre Telefonnummer oder E-Mail-Adresse für "
                                     "den Rückruf speichern dürfen. Ohne Ihre Einwilligung speichern wir nichts.",
        "callback_contact_required": "Bitte geben Sie eine Telefonnummer oder eine E-Mail-Adresse an, unter der "
                                     "wir Sie erreichen können.",
        "callback_invalid_phone": "Die Telefonnummer sieht nicht gültig aus. Bitte prüfen Sie sie.",
        "callback_invalid_email": "Die E-Mail-Adresse sieht nicht gültig aus. Bitte prüfen Sie sie.",
        "handoff_not_active": "Es ist gerade keine Mitarbeiterin und kein Mitarbeiter mit Ihnen verbunden.",
        "conversation_forbidden": "Dieses Gespräch kann ohne seinen Zugangsschlüssel nicht fortgesetzt werden. "
                                  "Ich habe ein neues Gespräch für Sie begonnen.",
        "conversation_not_yours": "Diese Verbindung gehört zu einem anderen Gespräch.",
        "conversation_with_staff": "Dieses Gespräch führt gerade eine Mitarbeiterin oder ein Mitarbeiter. Bitte "
                                   "setzen Sie es im Chat fort.",
        # fair use (bot/fair_use.py)
        "rate_limited": "Sie haben in kurzer Zeit sehr viele Fragen gestellt. Bitte warten Sie {wait} "
                        "und fragen Sie dann erneut.",
        "too_many_waiting": "Ihre vorigen Fragen werden noch beantwortet. Bitte warten Sie auf die Antworten, "
                            "bevor Sie weitere Fragen stellen.",
        "too_many_connections": "Von Ihrem Anschluss sind bereits sehr viele Chats geöffnet. Bitte schließen Sie "
                                "einen davon und versuchen Sie es erneut.",
        "idle_timeout": "Der Chat wurde nach längerer Inaktivität beendet. Sie können jederzeit neu beginnen.",
        "origin_not_allowed": "Diese Seite darf den Chat nicht verwenden.",
    },
    "en": {
        "no_answer": "I'm sorry, my sources don't contain reliable information on that. "
                     "I can put you in touch with a member of staff.",
        "handoff": "I'll gladly put you in touch with a member of staff. {contact}",
        "busy": "Many requests are being processed right now. Please try again in a moment.",
        "handoff_topic": "For this matter I'll put you straight through to a member of staff.",
        "handoff_waiting": "I have passed your request on to our team. You are number {position} in the queue; "
                           "the wait is expected to be about {wait}.",
        "handoff_waiting_unstaffed": "Your request is in our queue (number {position}), but nobody from the team "
                                     "is available right now. {opening}You can also ask for a callback.",
        "handoff_assigned_name_and_team": "{name} from the {team} team is now here for you.",
        "handoff_assigned_name": "{name} is now here for you.",
        "handoff_assigned_team": "A member of the {team} team is now here for you.",
        "handoff_closed_staff": "The conversation with our team has ended. Thank you! I'm here again if you have "
                                "further questions.",
        "handoff_closed_citizen": "You have ended the conversation with our team. I'm here again if you have "
                                  "further questions.",
        "handoff_offline": "Unfortunately, nobody from our team is available in the chat right now. "
                           "{opening}{contact} We can also call you back: just leave us your phone number or "
                           "e-mail address.",
        "opening": "We'll be back {when}. ",
        "contact_phone": "Phone: {phone} ({hours})",
        "contact_email": "E-mail: {email}",
        "contact_appointment": "Book an appointment online: {url}",
        "minutes_one": "1 minute",
        "minutes_many": "{n} minutes",
        "callback_received": "Thank you! We have received your callback request and will get back to you as soon "
                             "as possible.",
        "callback_consent_required": "Please confirm that we may store your phone number or e-mail address for the "
                                     "callback. Without your consent we store nothing.",
        "callback_contact_required": "Please give a phone number or an e-mail address where we can reach you.",
        "callback_invalid_phone": "The phone number does not look valid. Please check it.",
        "callback_invalid_email": "The e-mail address does not look valid. Please check it.",
        "handoff_not_active": "No member of staff is connected with you at the moment.",
        "conversation_forbidden": "This conversation cannot be continued without its access key. I have started "
                                  "a new conversation for you.",
        "conversation_not_yours": "This connection belongs to a different conversation.",
        "source_lead": "From “{title}” (the source is in German):",
        "conversation_with_staff": "A member of staff is handling this conversation. Please continue it in the "
                                   "chat.",
        "rate_limited": "You have asked a great many questions in a short time. Please wait {wait} and "
                        "ask again.",
        "too_many_waiting": "Your previous questions are still being answered. Please wait for the answers before "
                            "asking more.",
        "too_many_connections": "A great many chats are already open from your connection. Please close one and "
                                "try again.",
        "idle_timeout": "The chat was closed after a long time without activity. You can start again at any time.",
        "origin_not_allowed": "This page may not use the chat.",
    },
}


def wait_text(seconds: int, language: str) -> str:
    """"30 Sekunden", "59 Minuten" (rounded up from 3,540 seconds): how long to wait, as a person says it."""
    one, many, minutes = {"de": ("1 Sekunde", "Sekunden", "Minuten")}.get(language, ("1 second", "seconds", "minutes"))
    if seconds < 120:
        return one if seconds == 1 else f"{seconds} {many}"
    return f"{-(-seconds // 60)} {minutes}"


def text(key: str, language: str, **values: str) -> str:
    table = TEXTS.get(language, TEXTS["en"])
    return table[key].format(**values).strip()
