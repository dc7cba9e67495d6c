"""What the ledger says about the days ahead, as plain computations on what selectors read.

Nothing here queries: `credits.selectors.forecast()` reads the balance, the moments when
entries stop counting and the recent pace, and these functions work out the rest. Each
used credit comes back when its use expires; each bonus leaves when it expires; a use and
its refund share an expiry, so they cancel at that moment as they cancel now.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Change:
    """A moment when entries stop counting: used credits come back, bonus credits end."""

    at: datetime
    returned: int = 0  # uses and deductions ending, less their refunds
    expired: int = 0  # bonus credits ending

    @property
    def delta(self):
        return self.returned - self.expired


@dataclass(frozen=True)
class Day:
    """The changes of one day (in TIME_ZONE) and the balance once they have happened."""

    day: date
    returned: int
    expired: int
    balance: int

    @property
    def available(self):
        return max(0, self.balance)


@dataclass(frozen=True)
class Comeback:
    """The day the balance, with no more runs, is back at a number: when the moment is, and
    the balance once all of that day's credits are back ("25 back by 7 Jan", not "back at
    5" when all 25 return that day)."""

    at: datetime
    balance: int


@dataclass(frozen=True)
class Forecast:
    """The balance now, what changes it ahead (in time order), the pace of the last days,
    and the user's alert threshold (None: alerts off)."""

    now: datetime
    balance: int
    changes: tuple
    pace_per_day: float
    horizon: timedelta
    threshold: int | None = None
    pace_days: int = 7  # the days `pace_per_day` was measured over

    @property
    def available(self):
        return max(0, self.balance)

    def days(self):
        """[Day] in date order: what comes back and what ends each day, and the balance after."""
        days, balance = [], self.balance
        for change in self.changes:
            balance += change.delta
            day = timezone.localdate(change.at)
            if days and days[-1].day == day:
                last = days[-1]
                days[-1] = Day(day, last.returned + change.returned, last.expired + change.expired, balance)
            else:
                days.append(Day(day, change.returned, change.expired, balance))
        return [day for day in days if day.returned or day.expired]

    def first_moment_at_least(self, target):
        """When the balance, with no more runs, is first back at `target` or more (None: never
        within the changes ahead; `now` when it already is)."""
        balance = self.balance
        if balance >= target:
            return self.now
        for change in self.changes:
            balance += change.delta
            if balance >= target:
                return change.at
        return None

    def next_credit_at(self):
        """When a credit is there to spend again, for a balance of 0 or less (None: not 0)."""
        if self.balance >= 1:
            return None
        return self.first_moment_at_least(1)

    def back_at_threshold_at(self):
        """When enough credits are back for the balance to reach the alert threshold again,
        with no more runs (None when alerts are off, the balance is not below it, or never)."""
        if self.threshold is None or self.balance >= self.threshold:
            return None
        return self.first_moment_at_least(self.threshold)

    def back_at_threshold(self):
        """As back_at_threshold_at, with the balance at the end of that day (TIME_ZONE):
        a Comeback, or None."""
        at = self.back_at_threshold_at()
        if at is None:
            return None
        day, balance = timezone.localdate(at), self.balance
        for change in self.changes:
            if timezone.localdate(change.at) > day:
                break
            balance += change.delta
        return Comeback(at=at, balance=balance)

    def run_out_at(self):
        """When the balance reaches 0 if runs go on at the pace of the last days, within the
        horizon (None: not within it). Between changes the balance falls at the pace; at
        each change it jumps (returns up, bonus expiries down)."""
        value, moment, end = float(self.balance), self.now, self.now + self.horizon
        if value <= 0:
            return self.now
        pace = self.pace_per_day
        for change in self.changes:
            if change.at > end:
                break
            if pace > 0:
                hits = moment + DAY * (value / pace)
                if hits <= change.at:
                    return hits
                value -= pace * ((change.at - moment) / DAY)
            moment = change.at
            value += change.delta
            if value <= 0:
                return moment
        if pace > 0:
            hits = moment + DAY * (value / pace)
            if hits <= end:
                return hits
        return None


def step_chart(forecast, *, width=600, height=140, pad=6):
    """An SVG step line of the balance (shown as at least 0) from now to the horizon's end,
    with the alert threshold as a line: coordinates here, drawn by the template."""
    # A day past the horizon, so that credits used just now are seen to come back.
    end = forecast.now + forecast.horizon + DAY
    points, balance = [(forecast.now, forecast.balance)], forecast.balance
    for change in forecast.changes:
        if change.at > end:
            break
        balance += change.delta
        points.append((change.at, balance))
    values = [max(0, value) for _, value in points]
    top = max([*values, forecast.threshold or 0, 1])
    span = (end - forecast.now) / DAY

    def x(moment):
        return round((moment - forecast.now) / DAY / span * width, 1)

    def y(value):
        return round(pad + (height - 2 * pad) * (1 - max(0, value) / top), 1)

    steps = {}  # changes closer than the drawing shows become one step
    for moment, value in points[1:]:
        steps[x(moment)] = y(value)
    path = [f"M0,{y(points[0][1])}"] + [f"H{at} V{level}" for at, level in steps.items()]
    path.append(f"H{width}")
    ticks = []
    first_day = timezone.localdate(forecast.now)
    for offset in range(0, int(span) + 1, 7):
        day = first_day + timedelta(days=offset)
        ticks.append({"x": round(offset / span * width, 1), "day": day})
    return {
        "width": width,
        "height": height,
        "path": " ".join(path),
        "top": top,
        "top_y": y(top),
        "zero_y": y(0),
        "threshold_y": y(forecast.threshold) if forecast.threshold else None,
        "threshold": forecast.threshold,
        "lowest": min(values),
        "highest": max(values),
        "end": end,
        "ticks": ticks,
    }
