import pytest

from topictensor.errors import ConfigError
from topictensor.langid import LanguageIdentifier

LANGUAGES = ["en", "ru", "es", "pt", "it", "de", "fr"]


@pytest.fixture(scope="module")
def identifier():
    return LanguageIdentifier(LANGUAGES)


@pytest.mark.parametrize(
    "texts, expected",
    [
        (["Утро в горах, пьём кофе", "горы путешествия кофе"], "ru"),
        (["Un día perfecto en la playa con mis amigos", "playa verano vacaciones"], "es"),
        (["Heute gibt es leckeren Kuchen mit Freunden", "kuchen backen sonntag"], "de"),
    ],
)
def test_short_caption_and_tag_texts_get_their_language(identifier, texts, expected):
    code, confidence = identifier.detect(texts)
    assert code == expected
    assert confidence >= identifier.min_confidence


def test_text_without_letters_is_not_placed(identifier):
    assert identifier.detect(["", "2024 😀 !!!"]) == (None, 0.0)
    assert identifier.detect([]) == (None, 0.0)


def test_unsure_result_returns_none_with_its_score():
    strict = LanguageIdentifier(LANGUAGES, min_confidence=0.99)
    code, confidence = strict.detect(["bmw"])  # one brand name says little about a language
    assert code is None
    assert 0.0 < confidence < 0.99


def test_detect_many_keeps_order(identifier):
    results = identifier.detect_many([["Buongiorno a tutti, che bella giornata"], [], ["Доброе утро, друзья"]])
    assert [code for code, _ in results] == ["it", None, "ru"]


def test_text_is_capped():
    capped = LanguageIdentifier(LANGUAGES, max_chars=10)
    assert capped.text_of(["abcdefgh", "ijklmnop", "qrs"]) == "abcdefgh i"


def test_only_configured_languages_are_candidates():
    only_ru = LanguageIdentifier(["ru"])
    assert only_ru.detect(["hello friends"])[0] == "ru"


def test_unknown_language_code_is_a_config_error():
    with pytest.raises(ConfigError, match="xx"):
        LanguageIdentifier(["en", "xx"])
    with pytest.raises(ConfigError, match="empty"):
        LanguageIdentifier([])
