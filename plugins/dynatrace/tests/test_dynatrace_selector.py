"""Quoting, escaping and the length budget of the entity selector."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_dynatrace.selector import SelectorTooLong, entity_selector, quote


def read_quoted(text: str) -> tuple[str, str]:
    """A reference reader of Dynatrace's quoted strings: the value of the quoted string at the start of
    ``text`` and what follows it. ``~`` escapes the next character; an unescaped ``"`` ends the string."""
    assert text[0] == '"'
    value, index = [], 1
    while text[index] != '"':
        if text[index] == "~":
            assert text[index + 1] in '~"', f"stray escape in {text!r}"
            index += 1
        value.append(text[index])
        index += 1
    return "".join(value), text[index + 1 :]


def read_tags(selector: str) -> tuple[str, list[str]]:
    """The entity type and the tags of a selector made by :func:`entity_selector`."""
    assert selector.startswith("type(")
    entity_type, rest = selector[len("type(") :].split("),tag(", 1)
    tags = []
    while True:
        tag, rest = read_quoted(rest)
        tags.append(tag)
        if rest == ")":
            return entity_type, tags
        assert rest.startswith(",")
        rest = rest[1:]


@pytest.mark.parametrize(
    ("tag", "quoted"),
    [
        ("checkout-service", '"checkout-service"'),
        ('say "hi"', '"say ~"hi~""'),
        ("approx~1", '"approx~~1"'),
        ('~"', '"~~~""'),
        ("team:checkout", '"team:checkout"'),
        ("[Environment]env:prod", '"[Environment]env:prod"'),
        ("a,b(c)", '"a,b(c)"'),
        ("path\\:colon", '"path\\:colon"'),
        ("Zürich ✓", '"Zürich ✓"'),
    ],
)
def test_quote_escapes_quote_and_tilde_only(tag, quoted):
    assert quote(tag) == quoted


def test_selector_quotes_every_tag():
    assert entity_selector("APPLICATION", ["checkout-service", "web-frontend"]) == (
        'type(APPLICATION),tag("checkout-service","web-frontend")'
    )
    assert entity_selector("SERVICE", ['a"b']) == 'type(SERVICE),tag("a~"b")'


@given(st.lists(st.text(min_size=1), min_size=1, max_size=5))
def test_any_tags_read_back_unchanged(tags):
    selector = f"type(HOST),tag({','.join(quote(tag) for tag in tags)})"
    assert read_tags(selector) == ("HOST", tags)


@given(st.text())
def test_quoted_value_never_ends_early(value):
    assert read_quoted(quote(value) + "rest") == (value, "rest")


def test_selector_of_exactly_2000_characters_is_accepted():
    overhead = len('type(APPLICATION),tag("")')
    selector = entity_selector("APPLICATION", ["x" * (2000 - overhead)])
    assert len(selector) == 2000


def test_one_tag_too_long_is_refused_naming_it():
    overhead = len('type(APPLICATION),tag("")')
    tag = "release-" + "x" * (2001 - overhead - len("release-"))
    with pytest.raises(SelectorTooLong) as caught:
        entity_selector("APPLICATION", ["checkout-service", tag])
    message = str(caught.value)
    assert message.startswith("the Dynatrace tag 'release-xxxx")
    assert f"({len(tag):,} characters) is too long" in message
    assert "over 2,000 characters, the most Dynatrace accepts; use a shorter tag" in message


def test_escapes_count_towards_the_budget():
    overhead = len('type(APPLICATION),tag("")')
    with pytest.raises(SelectorTooLong):
        entity_selector("APPLICATION", ['"' * ((2000 - overhead) // 2 + 1)])


def test_characters_outside_the_bmp_count_twice():
    overhead = len('type(APPLICATION),tag("")')
    fits = "😀" * ((2000 - overhead) // 2)
    assert entity_selector("APPLICATION", [fits])
    with pytest.raises(SelectorTooLong):
        entity_selector("APPLICATION", [fits + "😀"])


def test_many_tags_too_long_together_are_refused_not_trimmed():
    tags = [f"tag-{n:03d}-" + "x" * 40 for n in range(60)]
    with pytest.raises(SelectorTooLong) as caught:
        entity_selector("APPLICATION", tags)
    assert str(caught.value).startswith("the 60 Dynatrace tags make an entity selector of 3,")
    assert str(caught.value).endswith(
        "characters, over the 2,000 Dynatrace accepts; give the flag fewer or shorter Dynatrace tags"
    )
