import pyarrow as pa
import pytest

from topictensor.tags import extract_caption_tags, normalize_tag, normalize_tag_column, normalize_tags


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("BMW", "bmw"),
        ("#Café", "cafe"),
        ("  #summer_2024 ", "summer_2024"),
        ("Ёлка", "елка"),
        ("зеркало", "зеркало"),
        ("Йога", "йога"),  # the breve of a Cyrillic letter is not a Latin diacritic
        ("Straße", "strasse"),
        ("Ñandú", "nandu"),
        ("Façade", "facade"),
        ("Über", "uber"),
        ("Łódź", "lodz"),
        ("ＢＭＷ", "bmw"),  # full-width letters
        ("東京", "東京"),
        ("ελλάδα", "ελλάδα"),  # Greek keeps its accents: only Latin letters lose them
        ("नमस्ते", "नमस्ते"),  # Devanagari vowel signs are marks that belong to their letters
    ],
)
def test_normalize_tag_canonical_forms(raw, expected):
    assert normalize_tag(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "#", "##", "summer!", "😀", "sun😀", "two words", "a-b", "é-e", None, 42])
def test_tags_with_invalid_characters_are_dropped_not_repaired(raw):
    assert normalize_tag(raw) is None


def test_length_limit_counts_characters_after_normalisation():
    assert normalize_tag("a" * 64) == "a" * 64
    assert normalize_tag("a" * 65) is None
    assert normalize_tag("ж" * 5, max_length=4) is None
    assert normalize_tag("ж" * 4, max_length=4) == "жжжж"


def test_normalize_tags_dedupes_in_order_after_normalisation():
    assert normalize_tags(["BMW", "cars", "#bmw", "Bmw!", "Café", "cafe", "CARS"]) == ["bmw", "cars", "cafe"]
    assert normalize_tags(None) == []


def test_caption_tags_end_where_instagram_ends_them():
    caption = "Morning! #Café, #summer2024. #ёлка#новыйгод word#glued https://x.com/#frag #a_b"
    assert extract_caption_tags(caption) == ["Café", "summer2024", "ёлка", "новыйгод", "a_b"]
    assert extract_caption_tags(None) == []
    assert extract_caption_tags("no tags here") == []


def test_caption_tags_keep_decomposed_accents_together():
    decomposed = "#Cafe\u0301 time"  # 'e' + combining acute
    assert [normalize_tag(t) for t in extract_caption_tags(decomposed)] == ["cafe"]


def test_vectorised_column_matches_row_by_row_rule():
    rows = [["BMW", "bmw", "x!"], None, [], ["Café", "cafe", "ЁЛКА", "ёлка", "😀"], ["a", "b", "a"], ["!"]]
    result = normalize_tag_column(pa.array(rows, type=pa.list_(pa.string())))
    assert result.tags.to_pylist() == [normalize_tags(r) for r in rows]
    assert result.tags_in == 3 + 5 + 3 + 1
    assert result.tags_invalid == 3  # 'x!', the emoji, '!'
    assert result.tags_out == 1 + 2 + 2
    assert result.tags_in == result.tags_out + result.tags_invalid + result.tags_duplicate


def test_vectorised_column_handles_no_tags_at_all():
    result = normalize_tag_column(pa.array([[], None], type=pa.list_(pa.string())))
    assert result.tags.to_pylist() == [[], []]
    assert (result.tags_in, result.tags_out) == (0, 0)
