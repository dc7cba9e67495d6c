"""A server-rendered bar chart of runs per day (SVG coordinates computed here, drawn by
the template), so the usage page needs no chart library and no JavaScript."""

from pickaxes.models import Run

WIDTH, HEIGHT, GAP = 600, 160, 2


def usage_chart(days):
    """`days` is [(day, site, test, embed, api)] (a count per Run.Source): stacked bars, one per day."""
    peak = max((sum(counts) for _, *counts in days), default=0) or 1
    slot = WIDTH / max(len(days), 1)
    bars = []
    for index, (day, *counts) in enumerate(days):
        x = round(index * slot + GAP / 2, 1)
        width = round(slot - GAP, 1)
        y = HEIGHT
        segments = []
        for kind, count in zip(Run.Source.values, counts, strict=True):
            height = round(count / peak * (HEIGHT - 20), 1)
            y -= height
            if count:
                segments.append({"kind": kind, "y": round(y, 1), "height": height})
        bars.append({"x": x, "width": width, "segments": segments, "day": day, "total": sum(counts)})
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "bars": bars,
        "peak": peak if peak > 1 or any(b["total"] for b in bars) else 0,
    }
