"""Report text (adoption_kit.report: format, tables, sources, portfolio, customer, low_adoption, headline) and
notebook glue (params, paths, actions): escaping, formats, headline, CRM list."""
from __future__ import annotations

import csv
import html
import json
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from adoption_kit import analysis
from adoption_kit.config import PROJECT_ROOT, Thresholds
from adoption_kit.errors import ParameterError, UnknownCustomerError
from adoption_kit.report import (
    actions,
    customer,
    format,
    headline,
    low_adoption,
    params,
    paths,
    portfolio,
    sources,
    tables,
)

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_ID = "e0063480-4b98-4e30-990b-cee86e8083aa"
FORMULA = '=HYPERLINK("http://example.invalid","x")'
FORMULA_ID = "259535c5-5a5b-4929-808c-c3377092b296"
TRIAL_ID = "f19782e8-6e78-46cc-a86b-5d8963b75840"
UPSELL_ID = "00ca2d71-7224-4239-a117-2a633dbe2f22"
YAMMER_ID = "ce7fc445-2608-405a-a82d-d712c7cb1cdf"
# Markup that would be live if a value reached the HTML unescaped.
LIVE_MARKUP = re.compile(r"<(img|script|svg|iframe)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def hostile(sample) -> analysis.Analysis:
    """The sample with hostile product names, workloads and a hostile segment-free text everywhere a value goes."""
    m = sample.metrics
    bad_product = pl.lit("<script>alert('p')</script>")
    products = m.products.with_columns(product_name=bad_product)
    workloads = m.workloads.with_columns(product_name=bad_product,
                                         workload=pl.when(pl.col("inflated")).then(pl.lit("<svg onload=x>"))
                                         .otherwise(pl.col("workload")))
    metrics = replace(m, products=products, workloads=workloads)
    return replace(sample, metrics=metrics,
                   warnings=("/home/analyst/secret/data/usage-<i>1<i>.json: no records in this page",))


def _all_fragments(result: analysis.Analysis) -> list[format.Fragment]:
    t = result.thresholds
    fragments = [
        sources.data_summary(result, requested=Thresholds(0.5, 0.5, 0.5)),
        sources.staleness(result, now=datetime(2030, 1, 1, tzinfo=timezone.utc), stale_after_days=45),
        portfolio.portfolio_headline(result), portfolio.portfolio_story(result),
        portfolio.over_100_table(result, top_n=50), portfolio.segment_table(result),
        low_adoption.ranking_summary(result, top_n=50), low_adoption.ranking_table(result, top_n=50),
    ]
    for tenant in (HOSTILE_ID, FORMULA_ID, TRIAL_ID, YAMMER_ID, UPSELL_ID):
        view = analysis.customer_view(result, tenant)
        fragments += [customer.customer_header(view, result), customer.customer_products(view, t),
                      customer.customer_flags(view, t), customer.customer_next_steps(view),
                      customer.no_usage_rows(view)]
    return fragments


# ---------------------------------------------------------------------------
# Escaping
# ---------------------------------------------------------------------------
def test_hostile_customer_name_appears_only_escaped(sample):
    fragments = _all_fragments(sample)
    joined = "\n".join(f.html for f in fragments)
    assert HOSTILE not in joined
    assert html.escape(HOSTILE) in joined                       # it is shown, as text
    assert not LIVE_MARKUP.search(joined)
    # The formula-looking name is shown as text too (its quotes escaped), and in the plain-text twin as is.
    assert html.escape(FORMULA, quote=True) in joined
    assert FORMULA not in joined
    assert any(HOSTILE in f.text for f in fragments)


def test_hostile_product_workload_and_warning_text_appear_only_escaped(hostile):
    joined = "\n".join(f.html for f in _all_fragments(hostile))
    assert not LIVE_MARKUP.search(joined)
    assert "&lt;script&gt;alert(&#x27;p&#x27;)&lt;/script&gt;" in joined
    assert "&lt;svg onload=x&gt;" in joined                      # the over-100% workload column
    assert "<i>1" not in joined and "usage-&lt;i&gt;1&lt;i&gt;.json: no records" in joined
    assert "/home/analyst" not in joined                         # loader notes name files, not paths


def test_styled_table_escapes_cells_and_caption_and_has_stable_ids(sample):
    first = low_adoption.ranking_table(sample, top_n=25)
    again = low_adoption.ranking_table(sample, top_n=25)
    assert first.html == again.html                              # same ids run to run (nbval compares it)
    assert 'id="T_low_adoption"' in first.html
    cells = [re.sub(r'^<a href="customers/[a-z0-9-]+\.html">(.*)</a>$', r"\1", c)   # names link to their reports
             for c in re.findall(r"<td[^>]*>(.*?)</td>", first.html, re.S)]
    assert html.escape(HOSTILE) in cells
    assert "61.2%" in cells and "1,080" in cells                  # % and thousands formatted
    assert "0.611849" not in first.html


def _styler_reference(frame: pl.DataFrame, *, uuid: str, caption: str, pct=(), ints=(), thresholds=None,
                      unknown=(), links=None, widths=None) -> str:
    """The table as pandas' Styler writes it (the implementation styled_table replaced), for comparison."""
    import math

    pdf = frame.to_pandas()

    def pct_text(v):
        return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format.format_pct(v)

    def int_text(v):
        # `unknown` columns (counts of a missing feed row) read "unknown"; the sample has none missing
        return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format.format_int(v)

    linked = {}
    for column, hrefs in (links or {}).items():   # Styler escapes the value, then the formatter wraps it in a link
        by_value = dict(zip(pdf[column].map(lambda v: tables._cell_escape(str(v))), hrefs))
        linked[column] = lambda v, by_value=by_value: (f'<a href="{html.escape(by_value[v])}">{v}</a>'
                                                       if by_value.get(v) else v)
    styler = (pdf.style.set_uuid(uuid).hide(axis="index")
              .format({**{c: pct_text for c in pct}, **{c: int_text for c in ints}, **linked}, escape="html",
                      na_rep="n/a")
              .format_index(escape="html", axis=1)
              .set_caption(format.esc(caption))
              .set_table_styles([{"selector": "td, th", "props": "vertical-align: top"},
                                 {"selector": "caption", "props": "caption-side: top; text-align: left"}]))
    right = [c for c in (*pct, *ints) if c in pdf.columns]
    widths = widths or {}
    styler = styler.set_table_styles({c: [{"selector": "", "props": f"text-align: {'right' if c in right else 'left'}"
                                           + (f"; {widths[c]}" if c in widths else "")}]
                                      for c in pdf.columns}, overwrite=False)
    if thresholds is not None:
        for column, limit, css in (("Deployment", thresholds.deploy, tables._LOW_DEPLOY_CSS),
                                   ("Usage", thresholds.adopt, tables._LOW_USAGE_CSS)):
            if column in pdf.columns:
                styler = styler.map(lambda v, lim=limit, low=css: tables._rate_css(v, lim, low), subset=[column])
    return format._WRAPPER.format(styler.to_html())


def test_styled_table_writes_the_markup_pandas_styler_wrote(sample, hostile):
    """Same look as before pandas left the report kernels: byte for byte what Styler made of the same table."""
    t = sample.thresholds
    tricky = pl.DataFrame({
        "Customer": ['A & "B" <i>x</i>', None, "O'Brien", "plain"],
        "Deployment": [0.5, None, 1.25, float("nan")], "Usage": [0.95, 0.1, None, 2.0],
        "Sold": [1234567, None, 0, 12], "Next step": ["<script>", "a\nb", "", "ok"],
    })
    cases = [(tricky, dict(uuid="tricky", caption="<b>caption</b> & 'quotes'", pct=["Deployment", "Usage"],
                           ints=["Sold"], thresholds=t)),
             (tricky.head(0), dict(uuid="empty", caption="no rows", pct=["Deployment", "Usage"], ints=["Sold"])),
             (tricky.select("Customer", "Sold"), dict(uuid="plain", caption="", ints=["Sold"]))]
    for frame, options in cases:
        assert tables.styled_table(frame, **options).html == _styler_reference(frame, **options), options["uuid"]
    # The report tables themselves, built through the same calls.
    seen = []
    original = tables.styled_table

    def spy(frame, **options):
        seen.append((frame, options))
        return original(frame, **options)

    tables.styled_table = spy
    try:
        fragments = [low_adoption.ranking_table(sample, top_n=25), low_adoption.ranking_table(hostile, top_n=50)]
        for result in (sample, hostile):
            for tenant in (HOSTILE_ID, FORMULA_ID, TRIAL_ID, YAMMER_ID, UPSELL_ID):
                fragments.append(customer.customer_products(analysis.customer_view(result, tenant), t))
    finally:
        tables.styled_table = original
    assert len(seen) == len(fragments) == 12
    for (frame, options), fragment in zip(seen, fragments):
        assert fragment.html == _styler_reference(frame, **options)


def _css(fragment_html: str) -> dict[str, str]:
    """A styled table's <style> block as {selector: all its properties}."""
    style = fragment_html.split("<style", 1)[1].split("</style>", 1)[0]
    rules: dict[str, str] = {}
    for selectors, props in re.findall(r"([^{}>]+)\{([^}]*)\}", style):
        for selector in selectors.split(","):
            rules[selector.strip()] = rules.get(selector.strip(), "") + props
    return rules


def test_styled_table_highlights_low_rates_and_over_100(sample):
    rules = _css(low_adoption.ranking_table(sample, top_n=25).html)
    # Rank 3 (the hostile name): deployment 41.9% < 80% is highlighted, usage 91.2% >= 60% is not.
    assert "background-color" in rules["#T_low_adoption_row2_col3"]
    assert "font-weight: bold" in rules["#T_low_adoption_row2_col3"]       # not colour alone
    assert "background-color" not in rules.get("#T_low_adoption_row2_col4", "")
    view = analysis.customer_view(sample, TRIAL_ID)
    rules = _css(customer.customer_products(view, sample.thresholds).html)
    assert "rgba(204, 121, 167" in rules["#T_customer_products_row0_col6"]  # 190% usage: data-check colour


def test_fragment_is_wrapped_against_mathjax_and_has_a_plain_text_twin(sample):
    fragment = portfolio.portfolio_headline(sample)
    assert fragment.html.startswith('<div class="adoption-kit tex2jax_ignore mathjax_ignore">')
    assert fragment._repr_html_() == fragment.html
    assert repr(fragment) == fragment.text and "Licenses sold" in fragment.text and "8,164" in fragment.text


def test_esc_and_formats():
    assert format.esc('<a href="x">&\'') == "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"
    assert format.esc(None) == "n/a"
    assert format.format_pct(0.8137) == "81.4%"
    assert format.format_pct(1.9) == "190.0%"
    assert format.format_pct(0.8, 0) == "80%"
    assert format.format_pct(None) == "n/a" and format.format_pct(float("nan")) == "n/a"
    assert format.format_int(8145) == "8,145" and format.format_int(None) == "n/a"
    assert format.plural(1, "account") == "1 account" and format.plural(2, "account") == "2 accounts"


# ---------------------------------------------------------------------------
# Content: numbers come from the frames
# ---------------------------------------------------------------------------
def test_portfolio_text_numbers_come_from_the_frames(sample):
    p = sample.portfolio
    story = portfolio.portfolio_story(sample).text
    assert f"{p['licenses_sold']:,}" in story
    assert format.format_pct(p["deployment_rate"]) in story and format.format_pct(p["usage_rate"]) in story
    segments = portfolio.segment_frame(sample)
    deploy = segments.filter(pl.col("segment") == "deploy").row(0, named=True)
    assert (f"{deploy['customers']} customers should assign licenses "
            f"({deploy['licenses_unassigned']:,} unassigned)") in story
    assert segments.get_column("segment").to_list() == ["data_check", "deploy", "adopt", "upsell", "healthy"]
    assert segments.get_column("customers").sum() == p["customers"]


def test_over_100_table_names_each_cause(sample):
    frame = portfolio.over_100_frame(sample)
    causes = dict(zip(frame.get_column("customer_id").to_list(), frame.get_column("inflation_causes").to_list()))
    assert causes[TRIAL_ID] == "trial" and causes[YAMMER_ID] == "yammer"
    text = portfolio.over_100_table(sample, top_n=2).text
    assert "5 products with usage over 100%, the 2 with the most excess active users shown" in text
    assert "Why usage can exceed 100%" in text and "Viva Engage" in text


def test_customer_flags_explain_the_cause(sample):
    t = sample.thresholds
    trial = customer.customer_flags(analysis.customer_view(sample, TRIAL_ID), t).text
    assert "Usage over 100% on MICROSOFT 365 E3: 190.0% (38 active of 20 qualified); likely cause: open trial" in trial
    assert "trial seats are active but are not paid entitlements" in trial
    yammer = customer.customer_flags(analysis.customer_view(sample, YAMMER_ID), t).text
    assert "Yammer usage over 100%" in yammer and "not counted as over 100%" in yammer
    upsell = customer.customer_flags(analysis.customer_view(sample, UPSELL_ID), t).text
    assert upsell.startswith("No flags")
    low = customer.customer_flags(analysis.customer_view(sample, HOSTILE_ID), t).text
    assert "under the 80% threshold: 38.0%" in low and "155 of 250 licenses are not assigned" in low


def test_customer_header_places_the_customer(sample):
    view = analysis.customer_view(sample, HOSTILE_ID)
    text = customer.customer_header(view, sample).text
    assert f"#{view.rank} of {sample.ranking.height} on the low-adoption list" in text
    assert f"percentile {view.usage_percentile:.0f}" in text
    figures = customer.customer_figures(view, sample)
    assert figures["customer_name"] == HOSTILE and figures["segment"] == "deploy"
    assert figures["low_adoption_rank"] == view.rank


def test_unknown_customer_names_close_matches(sample):
    typo = TRIAL_ID[:-2] + "99"                                  # one character off, twice
    with pytest.raises(UnknownCustomerError, match=TRIAL_ID) as error:
        analysis.customer_view(sample, typo)
    assert "Müller" in str(error.value)


def test_staleness_is_pinned_by_now(sample):
    processed = sample.processed_at_max
    fresh = sources.staleness(sample, now=processed + timedelta(days=10), stale_after_days=45)
    assert "10 days before" in fresh.text and "WARNING" not in fresh.text
    stale = sources.staleness(sample, now=processed + timedelta(days=46), stale_after_days=45)
    assert stale.text.startswith("WARNING") and "46 days ago" in stale.text
    before = sources.staleness(sample, now=processed - timedelta(days=3), stale_after_days=45)
    assert "check the today parameter" in before.text


def test_data_summary_says_when_bundle_thresholds_differ(sample):
    same = sources.data_summary(sample, requested=sample.thresholds).text
    assert "Thresholds: deploy 80%, adopt 60%, upsell 90%" in same and "bundle" not in same
    other = sources.data_summary(sample, requested=Thresholds(0.9, 0.7, 0.95)).text
    assert "asked for deploy 90%, adopt 70%, upsell 95%" in other
    assert str(PROJECT_ROOT) not in other


# ---------------------------------------------------------------------------
# Headline figures
# ---------------------------------------------------------------------------
def test_headline_bundle_is_flat_json(sample):
    figures = portfolio.portfolio_figures(sample)
    bundle = headline.headline_bundle(figures)
    assert headline.HEADLINE_MIME == "application/json"
    assert set(bundle) == {headline.HEADLINE_MIME, "text/plain"}
    payload = bundle[headline.HEADLINE_MIME]
    assert json.loads(json.dumps(payload)) == payload
    assert all(v is None or isinstance(v, (str, int, float, bool)) for v in payload.values())
    assert payload["customers"] == 50 and payload["deployment_rate"] == round(sample.portfolio["deployment_rate"], 4)
    assert payload["data_processed"] == "2026-11-01"
    assert headline.headline_bundle({"x": float("nan")})[headline.HEADLINE_MIME] == {"x": None}
    with pytest.raises(ParameterError, match="nested"):
        headline.headline_bundle({"nested": {"a": 1}})
    with pytest.raises(ParameterError):
        headline.headline_bundle({})


# ---------------------------------------------------------------------------
# notebooks: scalar parameters, paths, the CRM list
# ---------------------------------------------------------------------------
def test_parse_today_and_whole_numbers():
    assert params.parse_today("2026-12-31") == datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    assert params.parse_today("").tzinfo is not None
    with pytest.raises(ParameterError, match="today='31/12/2026' is not a date"):
        params.parse_today("31/12/2026")
    assert params.check_whole_number("top_n", 5, minimum=1) == 5
    for bad in (0, -1, 2.5, True, "5"):
        with pytest.raises(ParameterError, match="top_n=.* must be a whole number of at least 1"):
            params.check_whole_number("top_n", bad, minimum=1)


def test_paths_shown_in_reports_are_never_absolute(tmp_path):
    assert paths.shown_path("reports/low-adoption-accounts.csv") == "reports/low-adoption-accounts.csv"
    assert paths.shown_path(tmp_path / "crm" / "list.csv") == "list.csv"
    assert paths.strip_paths("/work/x/data/a.json: 2 row(s)") == "a.json: 2 row(s)"
    assert paths.strip_paths(r"C:\Users\me\a.csv: bad") == "a.csv: bad"
    assert paths.strip_paths("co-authoring files in SharePoint/OneDrive") == "co-authoring files in SharePoint/OneDrive"


def test_action_list_csv_is_formula_safe(sample, tmp_path):
    written = actions.write_action_list(sample, str(tmp_path / "crm.csv"))
    assert written is not None and written.rows == sample.ranking.height
    with (tmp_path / "crm.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == actions.ACTION_COLUMNS
    cells = [cell for row in rows[1:] for cell in row]
    assert "'" + FORMULA in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
    first = dict(zip(rows[0], rows[1]))
    assert first["rank"] == "1" and first["deployment_pct"] == "61.2" and first["data_processed"] == "2026-11-01"
    assert actions.write_action_list(sample, "") is None
    assert low_adoption.written_note(None, "").text == "No CSV written (no file name was given for it)."
    assert low_adoption.written_note(written, "crm.csv").text.startswith(f"Wrote {written.rows} accounts to crm.csv:")
    with pytest.raises(ParameterError, match="must end in .csv"):
        actions.write_action_list(sample, str(tmp_path / "crm.xlsx"))
