"""How the pages show values to people: instants and page numbers."""

from datetime import UTC, datetime, timedelta

from markupsafe import Markup


def instant(value: str, now: datetime | None = None) -> Markup:
    """An RFC 3339 instant as a `<time>` a person reads ("3 hours ago", "15 Jan 2024"), with
    the exact instant, in UTC to the millisecond, on hover. Text that is no instant is shown as
    it is (escaped)."""
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:  # the contract's instants are UTC ("Z")
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)  # OverflowError at the ends of the calendar
    except (TypeError, ValueError, OverflowError):
        return Markup("{}").format(value)
    milliseconds = f"{moment.microsecond // 1000:03d}"
    exact = f"{moment:%A} {moment.day} {moment:%B %Y, %H:%M:%S}.{milliseconds} UTC"
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        value, exact, _readable(moment, now or datetime.now(UTC))
    )


def _readable(moment: datetime, now: datetime) -> str:
    seconds = (now - moment).total_seconds()
    if 0 <= seconds < 60:
        return "just now"
    if 0 <= seconds < 3600:
        return _ago(int(seconds // 60), "minute")
    if 0 <= seconds < 86_400:
        return _ago(int(seconds // 3600), "hour")
    if moment.date() == (now - timedelta(days=1)).date():
        return f"yesterday at {moment:%H:%M} UTC"
    return f"{moment.day} {moment:%b %Y}"


def _ago(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'} ago"


def page_window(page: int, pages: int, *, around: int = 2) -> list[int | None]:
    """The page numbers a pager shows: the first, the last, and `around` either side of
    `page`; None where numbers are left out ("1 … 4 5 6 7 8 … 20")."""
    shown = sorted({1, pages, *range(max(1, page - around), min(pages, page + around) + 1)})
    window: list[int | None] = []
    previous = 0
    for number in shown:
        if number - previous == 2:
            window.append(number - 1)  # a gap of one number: show it rather than "…"
        elif number - previous > 2:
            window.append(None)
        window.append(number)
        previous = number
    return window
