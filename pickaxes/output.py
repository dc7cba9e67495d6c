"""Model output as HTML: Markdown rendered, then sanitised (model output is untrusted)."""

import threading

import markdown
import nh3
from django.utils.safestring import mark_safe

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "em",
    "b",
    "i",
    "del",
    "ul",
    "ol",
    "li",
    "blockquote",
    "code",
    "pre",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}


_converters = threading.local()  # a Markdown converter is reusable but not thread-safe


def _markdown(text):
    # Building a converter (its extensions and their patterns) costs more than a short
    # answer's conversion: one per thread, reset between texts.
    converter = getattr(_converters, "markdown", None)
    if converter is None:
        converter = _converters.markdown = markdown.Markdown(extensions=["fenced_code", "tables", "sane_lists"])
    return converter.reset().convert(text)


def render_output(text):
    """Markdown → HTML with no scripts, no event handlers and only http(s)/mailto links."""
    html = _markdown(text or "")
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
    return mark_safe(clean)
