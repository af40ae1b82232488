"""Language of a blogger from their own words (captions and tags), when the data does not say.

Backed by lingua, whose models ship inside the ``lingua-language-detector`` wheel: nothing is
downloaded at run time. The detector is restricted to the configured languages (fewer candidates
means fewer confusions and less memory) and built lazily on first use; lingua then loads each
language's model on demand, which costs about a second per script family the first time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from functools import lru_cache

from topictensor.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_MAX_CHARS = 1000
DEFAULT_MIN_CONFIDENCE = 0.5
CONFIDENCE_DIGITS = 6  # of the identifier's confidence kept (see detect_many)


class LanguageIdentifier:
    """Detects one ISO 639-1 language for a set of short texts that belong together."""

    def __init__(self, languages: Sequence[str], *, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                 max_chars: int = DEFAULT_MAX_CHARS):
        self.codes = sorted({code.strip().lower() for code in languages})
        if not self.codes:
            raise ConfigError("normalize.detect_languages is empty: name at least one ISO 639-1 code")
        self._languages = _lingua_languages(self.codes)
        self.min_confidence = min_confidence
        self.max_chars = max_chars
        self._detector = None

    @property
    def detector(self):
        if self._detector is None:
            from lingua import LanguageDetectorBuilder

            if len(self._languages) == 1:
                self._detector = _SingleLanguage(self._languages[0])
            else:
                self._detector = LanguageDetectorBuilder.from_languages(*self._languages).build()
        return self._detector

    def text_of(self, texts: Iterable[str | None]) -> str:
        """Join the pieces into one text of at most ``max_chars`` characters."""
        parts: list[str] = []
        size = 0
        for text in texts:
            if not text:
                continue
            parts.append(text)
            size += len(text) + 1
            if size >= self.max_chars:
                break
        return " ".join(parts)[: self.max_chars]

    def detect(self, texts: list[str]) -> tuple[str | None, float]:
        """(language code, confidence) of the texts taken together; code None when not confident."""
        return self.detect_many([texts])[0]

    def detect_many(self, groups: Sequence[Iterable[str | None]]) -> list[tuple[str | None, float]]:
        """``detect`` for many bloggers at once (lingua spreads the work over threads)."""
        joined = [self.text_of(group) for group in groups]
        results: list[tuple[str | None, float]] = [(None, 0.0)] * len(joined)
        todo = [i for i, text in enumerate(joined) if any(ch.isalpha() for ch in text)]
        if not todo:
            return results
        values = self.detector.compute_language_confidence_values_in_parallel([joined[i] for i in todo])
        for i, confidences in zip(todo, values):
            if not confidences:
                continue
            best = confidences[0]
            code = best.language.iso_code_639_1.name.lower()
            # lingua's parallel sums differ in the last bits from run to run: rounded, a rerun writes the
            # same bytes (and decides the same against min_confidence)
            confidence = round(float(best.value), CONFIDENCE_DIGITS)
            results[i] = (code if confidence >= self.min_confidence else None, confidence)
        return results


@lru_cache(maxsize=8)
def identifier_for(languages: tuple[str, ...]) -> LanguageIdentifier:
    """One identifier per language set per process: lingua's loaded models are reused across runs."""
    return LanguageIdentifier(languages)


class _SingleLanguage:
    """With one candidate language there is nothing to choose: every text with letters is it."""

    def __init__(self, language):
        self.language = language

    def compute_language_confidence_values_in_parallel(self, texts):
        from lingua import ConfidenceValue

        return [[ConfidenceValue(self.language, 1.0)] for _ in texts]


def _lingua_languages(codes: Sequence[str]):
    from lingua import IsoCode639_1, Language

    languages = []
    for code in codes:
        iso = getattr(IsoCode639_1, code.upper(), None)
        if iso is None or not isinstance(iso, IsoCode639_1):
            raise ConfigError(f"normalize.detect_languages: {code!r} is not an ISO 639-1 code lingua knows")
        languages.append(Language.from_iso_code_639_1(iso))
    return languages
