"""Altair charts of the tables made by ``workbench.stats``, and their offline static forms.

``to_static`` renders with vl-convert (no browser, no network). ``embed_html`` makes the
snippet a shared report uses: the static image as a data URI, and the Vega-Lite spec beside
it as escaped JSON, so the report loads no script and shows data text only as text.
"""

from __future__ import annotations

import base64
import html
import json
from typing import Literal

import altair as alt
import pandas as pd
import vl_convert as vlc

Format = Literal["png", "svg"]

_INTERVAL_TOOLTIP = [
    alt.Tooltip("k:Q", title="k"),
    alt.Tooltip("n:Q", title="n"),
    alt.Tooltip("rate:Q", title="rate", format=".1%"),
    alt.Tooltip("low:Q", title="95% low", format=".1%"),
    alt.Tooltip("high:Q", title="95% high", format=".1%"),
]
_RATE_SCALE = alt.Scale(domain=[0, 1])


def rate_chart(rates_df: pd.DataFrame, x: str = "condition", color: str = "model",
               title: str = "") -> alt.LayerChart:
    """A point per rate with its interval as whiskers, per x value, one color per ``color``.

    ``rates_df`` has the columns of ``stats.rates``: x, color, k, n, rate, low, high.
    """
    tooltip = [alt.Tooltip(f"{x}:N"), alt.Tooltip(f"{color}:N"), *_INTERVAL_TOOLTIP]
    base = alt.Chart(rates_df).encode(
        x=alt.X(f"{x}:N", title=x, axis=alt.Axis(labelAngle=-30, labelLimit=320)),
        xOffset=alt.XOffset(f"{color}:N"),
        color=alt.Color(f"{color}:N", title=color),
        tooltip=tooltip,
    )
    whiskers = base.mark_errorbar(ticks=True).encode(
        y=alt.Y("low:Q", title="rate (95% Wilson interval)", scale=_RATE_SCALE,
                axis=alt.Axis(format="%")),
        y2="high:Q",
    )
    points = base.mark_point(filled=True, size=60).encode(y=alt.Y("rate:Q", scale=_RATE_SCALE))
    chart = alt.layer(whiskers, points)
    return chart.properties(title=title) if title else chart


def label_heatmap(df_long: pd.DataFrame, row: str = "condition", facet: str = "model",
                  title: str = "") -> alt.FacetChart:
    """Every label's rate over the grid: rows are conditions, columns labels, one panel per model.

    ``df_long`` is ``stats.rates(df, [labels...], by=[facet, row])``: label, facet, row, k, n,
    rate, low, high.
    """
    tooltip = [alt.Tooltip(f"{facet}:N"), alt.Tooltip(f"{row}:N"), alt.Tooltip("label:N"),
               *_INTERVAL_TOOLTIP]
    base = alt.Chart().encode(
        x=alt.X("label:N", title="label", axis=alt.Axis(labelAngle=-30)),
        y=alt.Y(f"{row}:N", title=row, axis=alt.Axis(labelLimit=320)),
        tooltip=tooltip,
    )
    cells = base.mark_rect().encode(
        color=alt.Color("rate:Q", title="rate", scale=alt.Scale(domain=[0, 1], scheme="orangered"),
                        legend=alt.Legend(format="%")),
    )
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("rate:Q", format=".0%"),
        color=alt.condition("datum.rate > 0.6", alt.value("white"), alt.value("black")),
    )
    grid = alt.layer(cells, text, data=df_long).properties(width=alt.Step(64),
                                                          height=alt.Step(28))
    chart = grid.facet(
        column=alt.Column(f"{facet}:N", title=facet))
    return chart.properties(title=title) if title else chart


def _vl_version() -> str:
    """The Vega-Lite version altair writes, in the form vl-convert names it (e.g. ``5_20``)."""
    return "_".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])


def to_static(chart: alt.TopLevelMixin, fmt: Format = "png", scale: float = 2.0) -> bytes:
    """Render a chart offline with vl-convert: PNG bytes, or SVG text encoded as UTF-8."""
    spec = chart.to_dict()
    if fmt == "png":
        return vlc.vegalite_to_png(spec, vl_version=_vl_version(), scale=scale)
    if fmt == "svg":
        return vlc.vegalite_to_svg(spec, vl_version=_vl_version()).encode("utf-8")
    raise ValueError(f"fmt must be 'png' or 'svg', got {fmt!r}")


def embed_html(chart: alt.TopLevelMixin, fmt: Format = "png", alt_text: str = "chart") -> str:
    """An HTML snippet: the static image, and the Vega-Lite spec as JSON in a <details>.

    The image is a data URI (``image/png`` or ``image/svg+xml``): an SVG shown through <img>
    runs no script, and nothing is fetched. The spec, which carries data text such as
    condition and model ids, is HTML-escaped.
    """
    mime = {"png": "image/png", "svg": "image/svg+xml"}[fmt]
    scale = 2.0
    image = to_static(chart, fmt, scale=scale)
    data = base64.b64encode(image).decode("ascii")
    # a PNG drawn at 2x stays sharp on high-density screens, shown at its natural size
    size = f' width="{int(int.from_bytes(image[16:20], "big") / scale)}"' if fmt == "png" else ""
    spec = json.dumps(chart.to_dict(), indent=2, ensure_ascii=False, sort_keys=True)
    return (
        '<figure class="workbench-chart">\n'
        f'<img src="data:{mime};base64,{data}"{size} alt="{html.escape(alt_text, quote=True)}">\n'
        "<details><summary>Vega-Lite spec</summary>\n"
        f'<pre><code class="language-json">{html.escape(spec, quote=True)}</code></pre>\n'
        "</details>\n"
        "</figure>\n"
    )
