"""Validators for text people type that other people (and emails) show."""

from django.core.validators import RegexValidator

# A name or any other one-line text never holds control characters: a line break in a
# pickaxe's name would break the header of an email that quotes it, and the others
# (NUL, escape, …) only ever arrive by mistake or on purpose. Line breaks are Unicode's as
# well as ASCII's: NEL (U+0085, among the C1 controls), and the line and paragraph
# separators U+2028 and U+2029, which str.splitlines() and many readers break on. Nor does
# it hold a lone UTF-16 surrogate (a JSON body may spell one, "\ud800"): no database or
# email can store it.
single_line = RegexValidator(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]",
    "Use a single line of text, without line breaks or other control characters.",
    code="control_characters",
    inverse_match=True,
)

# Text of several lines (the options of a choice, one a line) may break lines, nothing else.
lines_of_text = RegexValidator(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff]",
    "Remove the control characters from this text.",
    code="control_characters",
    inverse_match=True,
)
