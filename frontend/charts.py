"""Charts as SVG written on the server: no script, nothing fetched, readable without colour.

Each chart is an `<svg role="img">` with a title and a description a screen reader reads; every
bar carries its label and its count as text, so nothing is told by colour alone (the bars have
one colour, set by the stylesheet, which may change it for dark or high-contrast themes). The
page puts a table of the same numbers under each chart. Sizes come from the viewBox: the chart
scales to the width of its container.
"""

from collections.abc import Sequence

from markupsafe import Markup

Rows = Sequence[tuple[str, int]]

WIDTH = 640
LABEL_WIDTH = 200  # the labels of a bar chart, right-aligned against its bars
COUNT_ROOM = 60  # room right of the longest bar for its count
ROW_HEIGHT = 30
COLUMN_HEIGHT = 180
COLUMN_LABELS = 40  # room under the columns for their labels
MAX_LABEL = 28  # characters shown of a label in the chart (the table shows it whole)


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def _open(chart_id: str, title: str, description: str, height: int) -> Markup:
    return Markup(
        '<svg class="chart" role="img" aria-labelledby="{0}-title {0}-desc" '
        'viewBox="0 0 {1} {2}" preserveAspectRatio="xMinYMin meet" '
        'xmlns="http://www.w3.org/2000/svg">'
        '<title id="{0}-title">{3}</title><desc id="{0}-desc">{4}</desc>'
    ).format(chart_id, WIDTH, height, title, description)


def _summary(rows: Rows) -> str:
    return "; ".join(f"{label}: {count}" for label, count in rows) or "no data"


def bar_chart(chart_id: str, title: str, rows: Rows) -> Markup:
    """Horizontal bars, one per row, longest first as given; each labelled with its count."""
    height = max(1, len(rows)) * ROW_HEIGHT + 10
    largest = max((count for _, count in rows), default=0) or 1
    room = WIDTH - LABEL_WIDTH - COUNT_ROOM
    parts = [_open(chart_id, title, _summary(rows), height)]
    if not rows:
        parts.append(Markup('<text class="empty" x="10" y="25">No data</text>'))
    for index, (label, count) in enumerate(rows):
        top = 5 + index * ROW_HEIGHT
        length = round(room * count / largest, 1)
        middle = top + (ROW_HEIGHT - 8) / 2 + 5
        parts.append(
            Markup(
                '<g><text class="label" x="{0}" y="{1}" text-anchor="end">{2}</text>'
                '<rect class="bar" x="{3}" y="{4}" width="{5}" height="{6}"></rect>'
                '<text class="count" x="{7}" y="{1}">{8}</text></g>'
            ).format(
                LABEL_WIDTH - 8,
                middle,
                _short(label),
                LABEL_WIDTH,
                top,
                length,
                ROW_HEIGHT - 8,
                LABEL_WIDTH + length + 6,
                count,
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def column_chart(chart_id: str, title: str, rows: Rows) -> Markup:
    """Vertical columns in the order given (buckets, months), each with its count on top."""
    height = COLUMN_HEIGHT + COLUMN_LABELS
    largest = max((count for _, count in rows), default=0) or 1
    slot = WIDTH / max(1, len(rows))
    bar = min(60.0, max(2.0, slot * 0.7))
    room = COLUMN_HEIGHT - 25  # under the counts
    parts = [_open(chart_id, title, _summary(rows), height)]
    if not rows:
        parts.append(Markup('<text class="empty" x="10" y="25">No data</text>'))
    # Labels of many columns would overlap: then every n-th is written (the table has all).
    every = max(1, round(len(rows) / 12))
    for index, (label, count) in enumerate(rows):
        length = round(room * count / largest, 1)
        left = round(index * slot + (slot - bar) / 2, 1)
        centre = round(index * slot + slot / 2, 1)
        parts.append(
            Markup(
                '<g><rect class="bar" x="{0}" y="{1}" width="{2}" height="{3}"></rect>'
                '<text class="count" x="{4}" y="{5}" text-anchor="middle">{6}</text>'
            ).format(
                left,
                COLUMN_HEIGHT - length,
                round(bar, 1),
                length,
                centre,
                COLUMN_HEIGHT - length - 5,
                count,
            )
        )
        if index % every == 0:
            text = Markup('<text class="label" x="{0}" y="{1}" text-anchor="middle">{2}</text>')
            parts.append(text.format(centre, COLUMN_HEIGHT + 20, _short(label)))
        parts.append(Markup("</g>"))
    parts.append(
        Markup('<line class="axis" x1="0" y1="{0}" x2="{1}" y2="{0}"></line>').format(
            COLUMN_HEIGHT, WIDTH
        )
    )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def label(value: str | None, missing: str) -> str:
    """A value as a chart and its table name it: `missing` stands for null."""
    return missing if value is None else value
