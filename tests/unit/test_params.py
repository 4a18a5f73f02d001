from __future__ import annotations

from lumigram.api.params import nest
from lumigram.entities.accounts import note_html


def test_rails_bracket_keys_become_lists_and_objects() -> None:
    assert nest([("id[]", "1"), ("id[]", "2"), ("source[privacy]", "private"), ("plain", "x")]) == {
        "id": ["1", "2"],
        "source": {"privacy": "private"},
        "plain": "x",
    }
    assert nest([("fields_attributes[0][name]", "a"), ("fields_attributes[0][value]", "b")]) == {
        "fields_attributes": {"0": {"name": "a", "value": "b"}}
    }


def test_conflicting_shapes_do_not_crash() -> None:
    assert nest([("a", "x"), ("a[b]", "y")]) == {"a": {"b": "y"}}
    assert nest([("a[]", "x"), ("a[b]", "y")]) == {"a": {"b": "y"}}
    assert nest([("a[][b]", "x")]) == {"a": []}
    assert nest([("[x]", "1")]) == {"[x]": "1"}


def test_notes_are_escaped_into_paragraphs() -> None:
    assert note_html("") == ""
    assert note_html("one\ntwo\n\n<b>three</b>") == "<p>one<br />two</p><p>&lt;b&gt;three&lt;/b&gt;</p>"
