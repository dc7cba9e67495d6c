"""An answer shown while it is written: the output so far as HTML, rendered and sanitised
by `render_output` (the one function the final render uses too), sent in throttled events.

Rendering is what costs (Python-Markdown takes milliseconds a kilobyte), so:

- a block that can no longer change (a blank line ended it, and what follows starts a
  new block) is rendered once and sent once (`add`); only the block being written is
  rendered again each time (`tail`), so the cost grows with the answer, not its square;
- an event goes out at most every RUN_PROGRESS_EVERY_SECONDS, and a process spends at
  most PROGRESS_CPU_SHARE of its time on them: with many open streams each is updated
  less often;
- an answer that ends within its first interval is never rendered here: the stream's
  `end` event carries the final render, identical to the page's.
"""

import re
import time
import weakref

from django.conf import settings

from pickaxes.output import render_output

PROGRESS_CPU_SHARE = 0.25

# A line that may carry on the block above it even after a blank line: indented (code,
# a list item's paragraph), a list item, a quote, a table row.
CONTINUES_BLOCK = re.compile(r"[ \t]|[-*+>|]|\d+[.)]")
FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
# A line being written that is still only Markdown's punctuation ("##", "-", "1.", "```"):
# held back until its words come, so no raw marker flashes on screen.
ONLY_MARKERS = re.compile(r"\s*([#>*+|`~=_-]+|\d+[.)]?)?\s*")

_open = weakref.WeakSet()  # the streams showing progress in this process
_render_seconds = [0.001]  # a moving average of one render's cost


class OutputSoFar:
    """The answer as it grows, and its HTML in two parts: blocks completed since the last
    call (to append) and the block being written (to replace)."""

    def __init__(self):
        self._parts = []
        self._text = ""
        self._done = 0  # characters already rendered for good

    def add(self, text):
        self._parts.append(text)

    def render(self):
        if self._parts:
            self._text += "".join(self._parts)
            self._parts.clear()
        cut = _last_block_start(self._text, self._done)
        done = render_output(self._text[self._done : cut]) if cut > self._done else ""
        self._done = cut
        return {"add": str(done), "tail": str(render_output(_readable(self._text[cut:])))}


def _last_block_start(text, start):
    """The start of the last line after `start` that begins a new block: it follows a
    blank line outside a code fence and cannot continue the block above. `start` if none."""
    cut, fenced, blank_before, at = start, None, False, start
    while at < len(text):
        end = text.find("\n", at)
        if end == -1:
            break  # the line being written: what it is may not show yet ("1" of "1. ")
        line = text[at:end]
        fence = FENCE.match(line)
        if fenced is None and blank_before and line and not CONTINUES_BLOCK.match(line):
            cut = at
        if fence and (fenced is None or fence.group(1)[0] == fenced):
            fenced = None if fenced else fence.group(1)[0]
        blank_before = not line.strip() and fenced is None
        at = end + 1
    return cut


def _readable(tail):
    """The block being written, closed where it is still open so that it renders as what
    it will be: the line's unfinished marker held back, a code fence or ** or ` closed."""
    lines = tail.split("\n")
    if ONLY_MARKERS.fullmatch(lines[-1]):
        lines.pop()
    if not lines:
        return ""
    fences = [fence.group(1) for fence in map(FENCE.match, lines) if fence]
    if len(fences) % 2:
        return "\n".join([*lines, fences[-1]])
    last = lines[-1].rstrip()
    if not FENCE.match(last):
        for marker in ("**", "`"):
            if last.count(marker) % 2:  # held back if nothing follows it yet, else closed
                last = last.removesuffix(marker) if last.endswith(marker) else last + marker
        lines[-1] = last
    return "\n".join(lines)


class Progress:
    """When a stream's output so far is due to be shown, and the event data that shows it."""

    def __init__(self):
        self.output = OutputSoFar()
        self._last_sent = None  # when the last event went out (or the first text came)
        self._pending = False
        _open.add(self)

    def add(self, text):
        self.output.add(text)
        self._pending = True
        if self._last_sent is None:
            self._last_sent = time.monotonic()

    def _interval(self):
        return max(settings.RUN_PROGRESS_EVERY_SECONDS, len(_open) * _render_seconds[0] / PROGRESS_CPU_SHARE)

    def wait(self):
        """Seconds until an event is due; None while there is nothing new to show."""
        if not self._pending:
            return None
        return max(0.0, self._last_sent + self._interval() - time.monotonic())

    def due(self):
        return self.wait() == 0.0

    def render(self):
        started = time.monotonic()
        data = self.output.render()
        self._last_sent = time.monotonic()
        self._pending = False
        _render_seconds[0] = 0.9 * _render_seconds[0] + 0.1 * (self._last_sent - started)
        return data
