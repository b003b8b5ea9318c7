"""Which language the citizen writes in, so the answer (and SiWi's fixed texts) can follow it."""

from __future__ import annotations

from py3langid.langid import MODEL_FILE, LanguageIdentifier

SUPPORTED = ["de", "en", "fr", "tr", "uk", "ru", "ar", "pl", "es", "it"]


class LanguageDetector:
    def __init__(self, default: str = "de", min_confidence: float = 0.8):
        self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self._identifier.set_languages(SUPPORTED)
        self._default = default
        self._min_confidence = min_confidence

    def detect(self, text: str) -> str:
        """Short questions are often ambiguous; only a confident guess overrides the default (German)."""
        if len(text.strip()) < 12:
            return self._default
        language, confidence = self._identifier.classify(text)
        return language if confidence >= self._min_confidence else self._default
