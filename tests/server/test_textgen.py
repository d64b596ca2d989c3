"""The deterministic local text generator."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from server_stub import textgen


def test_same_prompt_same_reply_and_different_prompts_differ() -> None:
    assert textgen.reply("hello") == textgen.reply("hello")
    replies = {textgen.reply(f"prompt {n}") for n in range(10)}
    assert len(replies) > 1


def test_reply_names_the_prompt_and_has_the_requested_sentences() -> None:
    text = textgen.reply("How do streams work?", sentences=3)
    assert '"How do streams work?"' in text
    assert text.count(".") >= 5


@given(st.text(max_size=200))
def test_tokens_join_back_to_the_text(text: str) -> None:
    pieces = textgen.tokens(text)
    assert "".join(pieces) == text
    assert all(piece for piece in pieces)


def test_tokens_are_word_sized() -> None:
    assert textgen.tokens("Hello big  world.") == ["Hello", " big", "  world."]
