"""Charts build from stats tables, render offline, and embed in HTML with data text escaped."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest

from workbench import charts, stats

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIL_MODEL = 'openai/<script>alert("x")</script>'


def _results(models: tuple[str, ...] = ("local/smollm2", "anthropic/claude")) -> pd.DataFrame:
    rows = []
    for m, model in enumerate(models):
        for c, condition in enumerate(("successor_values=similar", "successor_values=different")):
            for i in range(10):
                rows.append({"model": model, "condition": condition,
                             "blackmail": i < 3 + 3 * c + m, "plead": i % 2 == 0,
                             "error": None})
    return pd.DataFrame(rows)


@pytest.fixture
def rate_table() -> pd.DataFrame:
    return stats.rates(_results(), "blackmail")


@pytest.fixture
def long_table() -> pd.DataFrame:
    return stats.rates(_results(), ["blackmail", "plead"], by=["model", "condition"])


def test_rate_chart_spec(rate_table: pd.DataFrame) -> None:
    spec = charts.rate_chart(rate_table, title="blackmail").to_dict()
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["errorbar", "point"]
    whiskers = spec["layer"][0]["encoding"]
    assert whiskers["y"]["field"] == "low" and whiskers["y2"]["field"] == "high"
    assert whiskers["y"]["scale"]["domain"] == [0, 1]


def test_label_heatmap_spec(long_table: pd.DataFrame) -> None:
    spec = charts.label_heatmap(long_table).to_dict()
    assert spec["facet"]["column"]["field"] == "model"
    cells = spec["spec"]["layer"][0]
    assert cells["mark"]["type"] == "rect"
    assert cells["encoding"]["x"]["field"] == "label"
    assert cells["encoding"]["y"]["field"] == "condition"
    tooltips = {t["field"] for t in cells["encoding"]["tooltip"]}
    assert {"k", "n", "low", "high"} <= tooltips


def test_rate_chart_renders_png_and_svg_offline(rate_table: pd.DataFrame) -> None:
    chart = charts.rate_chart(rate_table)
    png = charts.to_static(chart, "png")
    assert png.startswith(PNG_MAGIC) and len(png) > 2000
    svg = charts.to_static(chart, "svg").decode("utf-8")
    assert svg.lstrip().startswith("<svg")
    assert "successor_values=similar" in svg and "local/smollm2" in svg


def test_heatmap_renders_png_and_svg_offline(long_table: pd.DataFrame) -> None:
    chart = charts.label_heatmap(long_table)
    assert charts.to_static(chart, "png").startswith(PNG_MAGIC)
    svg = charts.to_static(chart, "svg").decode("utf-8")
    assert "plead" in svg and "anthropic/claude" in svg


def test_to_static_rejects_unknown_format(rate_table: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="png"):
        charts.to_static(charts.rate_chart(rate_table), "gif")  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_embed_html_escapes_data_text(fmt: str) -> None:
    table = stats.rates(_results(models=(EVIL_MODEL, "local/smollm2")), "blackmail")
    snippet = charts.embed_html(charts.rate_chart(table), fmt=fmt,  # type: ignore[arg-type]
                                alt_text='rates for "<b>"')
    assert "<script" not in snippet.lower()
    assert "openai/&lt;script&gt;alert(" in snippet
    assert 'alt="rates for &quot;&lt;b&gt;&quot;"' in snippet
    assert "<details><summary>Vega-Lite spec</summary>" in snippet
    # nothing is loaded from anywhere: the only src is the data URI of the image
    sources = re.findall(r'\bsrc="([^"]*)"', snippet)
    assert len(sources) == 1 and sources[0].startswith(f"data:image/{fmt}")
    image = base64.b64decode(sources[0].split(",", 1)[1])
    if fmt == "png":
        assert image.startswith(PNG_MAGIC)
    else:
        # the SVG itself carries the id as text, escaped by the renderer, never as markup
        assert b"<script" not in image.lower() and b"&lt;script&gt;" in image


def test_embedded_png_is_shown_at_half_its_2x_pixel_width(rate_table: pd.DataFrame) -> None:
    snippet = charts.embed_html(charts.rate_chart(rate_table))
    encoded = re.search(r'src="data:image/png;base64,([^"]+)"', snippet).group(1)
    pixels = int.from_bytes(base64.b64decode(encoded)[16:20], "big")
    assert f'width="{pixels // 2}"' in snippet
