"""The instruction cleaner on arbitrary input: it returns one printable, whitespace-normalised
line within the length limit, or raises InstructionError (one line); it never raises anything
else, and cleaning twice changes nothing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saycan.errors import InstructionError
from saycan.planner.prompts import MAX_INSTRUCTION_CHARS, clean_instruction

ANY_TEXT = st.one_of(
    st.text(max_size=MAX_INSTRUCTION_CHARS + 40),
    st.text(
        alphabet=st.sampled_from(" \t\n\r\x0b\x0c\x1c\x85\u2028\u3000ab\x00\x1b\u200b"), max_size=20
    ),
    st.text(alphabet="ab ", min_size=MAX_INSTRUCTION_CHARS - 2, max_size=MAX_INSTRUCTION_CHARS + 5),
)


@settings(max_examples=300, deadline=None)
@given(text=ANY_TEXT)
def test_cleaned_text_is_one_bounded_printable_line_or_a_typed_error(text):
    try:
        cleaned = clean_instruction(text)
    except InstructionError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert cleaned and len(cleaned) <= MAX_INSTRUCTION_CHARS
    assert cleaned.isprintable() and cleaned == cleaned.strip() and "  " not in cleaned
    assert cleaned.split() == text.split()  # only whitespace changed
    assert clean_instruction(cleaned) == cleaned


@settings(max_examples=50, deadline=None)
@given(
    value=st.one_of(
        st.none(),
        st.integers(),
        st.floats(),
        st.binary(max_size=8),
        st.lists(st.text(max_size=3), max_size=2),
    )
)
def test_non_text_is_a_typed_error(value):
    try:
        clean_instruction(value)
    except InstructionError as exc:
        assert str(exc) == f"the instruction must be text, got {type(value).__name__}"
    else:
        pytest.fail(f"{value!r} was accepted as an instruction")
