"""Reading the account page's credit parts as a person reads them: text without tags."""

import html as html_module
import re


def text_of(fragment):
    """The text a browser shows for an HTML fragment, whitespace collapsed."""
    return (
        " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", fragment)).split()).replace(" :", ":").replace(" ,", ",")
    )


def balance_line(html):
    """ "66 credits: 25 from Free, 50 bonus until 25 Dec, 9 in use" """
    match = re.search(r'<p class="balance-line" data-testid="balance-line">(.*?)</p>', html, re.S)
    return text_of(match.group(1))


def timeline_rows(html):
    """[(day, come back, bonus ends, balance after)] of the returns timeline."""
    rows = re.findall(r'<tr data-testid="timeline-day">(.*?)</tr>', html, re.S)
    return [tuple(text_of(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)) for row in rows]


def activity_lines(html):
    """[text of each activity line], newest first."""
    return [text_of(line) for line in re.findall(r'data-testid="activity-line">(.*?)</li>', html, re.S)]
