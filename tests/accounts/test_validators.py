"""One-line text holds no line break of any kind (ASCII's or Unicode's) and no control
character; text of several lines may break lines, and holds no other control character."""

import pytest
from django.core.exceptions import ValidationError

from accounts.validators import lines_of_text, single_line

LINE_BREAKS = ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("text", [f"one{brk}two" for brk in LINE_BREAKS] + ["a\x00b", "a\x1bb", "a\x7fb", "a\x9bb"])
def test_single_line_text_refuses_every_line_break_and_control_character(text):
    with pytest.raises(ValidationError) as refused:
        single_line(text)
    assert refused.value.code == "control_characters"


@pytest.mark.parametrize("text", ["Haiku maker", "Café, naïve — “quoted” 日本語 🙂", "a\u00a0b", "tab-less"])
def test_single_line_text_takes_any_printable_text(text):
    single_line(text)


@pytest.mark.parametrize("text", ["calm\nstormy", "calm\r\nstormy", "calm\u2028stormy", "calm\x85stormy"])
def test_text_of_several_lines_takes_line_breaks(text):
    lines_of_text(text)


@pytest.mark.parametrize("text", ["calm\x00", "calm\x1b[31m", "calm\x9b31m"])
def test_text_of_several_lines_refuses_other_control_characters(text):
    with pytest.raises(ValidationError):
        lines_of_text(text)
