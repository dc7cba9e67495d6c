"""A streamed answer reads well while it is written: the page gets the output so far as
HTML, rendered and sanitised by the same function as the final render, at most every
RUN_PROGRESS_EVERY_SECONDS; the end carries the final render, as before."""

import re
from html.parser import HTMLParser

import pytest

from pickaxes.output import render_output
from pickaxes.progress import OutputSoFar, Progress
from tests.pickaxes.conftest import post_run_streamed

ANSWER = (
    "# A title\n\nAn intro with **bold** words and `code`.\n\n- one\n- two\n\n1. first\n\n2. second\n\n"
    "```python\nx = 1\n\ny = 2\n```\n\n> A quote\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nThe end."
)
MARKERS = re.compile(r"(^|>|\n)\s*(#|- |\d\. )|\*\*|`")


def shown_while_written(text, step):
    """What the page shows after each piece of `step` characters, and the blocks kept."""
    output, kept, shown = OutputSoFar(), "", []
    for at in range(0, len(text), step):
        output.add(text[at : at + step])
        data = output.render()
        kept += data["add"]
        shown.append(kept + data["tail"])
    return shown


class Tags(HTMLParser):
    """The tags and attributes in HTML, as a browser would parse them (text is not a tag)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def handle_starttag(self, tag, attrs):
        self.seen.append((tag, attrs))


def text_of(html):
    return re.sub(r"<[^>]+>", "", html)


@pytest.mark.parametrize("step", [1, 2, 5, 13])
def test_no_raw_markdown_marker_is_ever_on_screen(step):
    for html in shown_while_written(ANSWER, step):
        assert not MARKERS.search(text_of(html).replace("x = 1", "")), html


@pytest.mark.parametrize("step", [1, 4, 40])
def test_what_is_shown_when_the_text_is_whole_reads_as_the_final_render(step):
    def squeeze(html):
        return re.sub(r">\s+<", "><", str(html)).strip()

    assert squeeze(shown_while_written(ANSWER, step)[-1]) == squeeze(render_output(ANSWER))


@pytest.mark.parametrize("step", [1, 3, 7])
def test_the_output_so_far_is_sanitised_as_the_final_render_is(step):
    hostile = (
        'Hi <script>alert(1)</script>\n\n<img src=x onerror="alert(2)">\n\n'
        '[click](javascript:alert(3))\n\n<a href="javascript:alert(4)">x</a> **bold**'
    )
    for html in shown_while_written(hostile, step):
        tags = Tags()
        tags.feed(html)
        assert not {"script", "img"} & {tag for tag, _ in tags.seen}, html
        attributes = [(name, value or "") for _, attrs in tags.seen for name, value in attrs]
        assert not [name for name, value in attributes if name.startswith("on") or "javascript:" in value], html


def test_finished_blocks_are_rendered_once_and_only_the_block_being_written_again():
    output = OutputSoFar()
    output.add("First paragraph.\n\nSecond one\nand a")
    first = output.render()
    assert first["add"] == "<p>First paragraph.</p>" and first["tail"] == "<p>Second one\nand a</p>"
    output.add(" longer line.")
    second = output.render()
    assert second["add"] == "" and second["tail"] == "<p>Second one\nand a longer line.</p>"


def test_a_list_with_blank_lines_stays_one_list_while_it_is_written():
    output = OutputSoFar()
    output.add("1. first\n\n2. second\n\n3. thi")
    data = output.render()
    assert data["add"] == "" and data["tail"].count("<ol>") == 1


def test_an_open_code_fence_shows_as_code_while_it_is_written():
    output = OutputSoFar()
    output.add("Look:\n\n```python\nx = 1\n\ny = 2")
    data = output.render()
    assert "<pre><code" in data["add"] + data["tail"] and "```" not in data["tail"]


def test_many_open_streams_are_each_updated_less_often(settings):
    settings.RUN_PROGRESS_EVERY_SECONDS = 0.15
    alone = Progress()
    alone.add("x")
    assert alone.wait() <= 0.15
    crowd = [Progress() for _ in range(5000)]
    alone.add("y")
    assert alone.wait() > 0.15
    del crowd


def test_a_streamed_run_shows_rendered_html_while_it_streams_then_the_final_render(
    user, pickaxe, fake_openai, settings
):
    settings.RUN_PROGRESS_EVERY_SECONDS = 0.05
    fake_openai.reply = ANSWER
    fake_openai.chunk_delay = 0.02
    _, events = post_run_streamed(user, pickaxe, {"topic": "x", "submission_key": "p" * 20})
    shown = [data for name, data in events if name == "output"]
    assert len(shown) >= 3
    kept = ""
    for data in shown:
        kept += data["add"]
        assert not MARKERS.search(text_of(kept + data["tail"]).replace("x = 1", ""))
    name, end = events[-1]
    assert name == "end" and end["html"] == str(render_output(ANSWER))


def test_an_answer_that_ends_within_the_first_interval_is_rendered_once_at_the_end(
    user, pickaxe, fake_openai, settings
):
    settings.RUN_PROGRESS_EVERY_SECONDS = 5
    fake_openai.reply = ANSWER
    _, events = post_run_streamed(user, pickaxe, {"topic": "x", "submission_key": "q" * 20})
    assert [name for name, _ in events] == ["end"]
    assert events[0][1]["html"] == str(render_output(ANSWER))
