"""Pure text rendering for the app: answers with clickable citations, refusal states, metric
tables and plot data. No gradio here, so every rule is a doctest.

Citations become links to `#cite-Q17`; the page's click handler (ask.py, `CITE_JS`) turns a
click on such a link into "open Q17 in the side panel" instead of navigating.
Leaves out: layout and event wiring (the tab modules).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping

CITE_PREFIX = "#cite-"
_BRACKETED = re.compile(r"\[((?:Q\d{2}|P\d|[a-z0-9][a-z0-9_-]{0,39}:s\d+))\]")
# A bare id as the refusal texts print them: "Q21 (Temperature ...)".
_BARE = re.compile(r"(?<![\w\[#-])((?:Q\d{2}|P\d))(?![\w\]])")
# Refusals that are about the handbook's coverage, not about the guardrails.
SCOPE_REASONS = {"out_of_scope": "Not in the handbook", "abstained": "Not answered by the handbook"}


def cite_link(ref: str, prefix: str = CITE_PREFIX) -> str:
    """A markdown link the side panel opens (each tab with a panel has its own `prefix`).

    >>> cite_link("Q21")
    '[\\\\[Q21\\\\]](#cite-Q21)'
    """
    return f"[\\[{ref}\\]]({prefix}{ref})"


def link_citations(text: str, known: Iterable[str], prefix: str = CITE_PREFIX) -> str:
    """Turn `[Q21]` into a link when the handbook has Q21; other brackets stay as they are.

    >>> link_citations("Top-p keeps the nucleus [Q21]; see [Q99].", {"Q21"})
    'Top-p keeps the nucleus [\\\\[Q21\\\\]](#cite-Q21); see [Q99].'
    """
    known = set(known)  # a collection's ids ("notes:s12") always link: the panel checks them
    return _BRACKETED.sub(
        lambda m: cite_link(m[1], prefix) if m[1] in known or ":" in m[1] else m[0], text
    )


def link_bare_ids(text: str, known: Iterable[str]) -> str:
    """Turn bare ids such as `Q21 (Temperature)` into links (refusals name questions this way).

    >>> link_bare_ids("The closest are: Q21 (Temperature), P3 (Part).", {"Q21", "P3"})
    'The closest are: [Q21](#cite-Q21) (Temperature), [P3](#cite-P3) (Part).'
    >>> link_bare_ids("Q210 and XQ21 stay", {"Q21"})
    'Q210 and XQ21 stay'
    """
    known = set(known)
    return _BARE.sub(lambda m: f"[{m[1]}]({CITE_PREFIX}{m[1]})" if m[1] in known else m[0], text)


def answer_markdown(
    answer: str, refusal_reason: str | None, known: Iterable[str], material: bool = False
) -> str:
    """The chat message for a finished turn: an answer with links, or a labelled refusal.

    >>> answer_markdown("Temperature rescales logits [Q21].", None, {"Q21"})
    'Temperature rescales logits [\\\\[Q21\\\\]](#cite-Q21).'
    >>> print(answer_markdown("Closest: Q21 (Temperature).", "out_of_scope", {"Q21"}))
    **Not in the handbook.** Closest: [Q21](#cite-Q21) (Temperature).
    >>> print(answer_markdown("I can't follow that.", "prompt_injection", {"Q21"}))
    **Blocked by the guardrails: prompt_injection.** I can't follow that.
    """
    if refusal_reason is None:
        return link_citations(answer, known)
    if refusal_reason in SCOPE_REASONS:
        label = SCOPE_REASONS[refusal_reason]
        if material:  # the user's own collection: its closest sections are [notes:s12]
            label = label.replace("the handbook", "your material")
            return f"**{label}.** {link_citations(answer, ())}"
        return f"**{label}.** {link_bare_ids(answer, known)}"
    if refusal_reason == "backend_error":
        return f"**The model backend failed.** {answer}"
    return f"**Blocked by the guardrails: {refusal_reason}.** {answer}"


def problem_markdown(message: str) -> str:
    """A failed turn, shown in the chat instead of an answer.

    >>> problem_markdown("The index is missing. Run: coach index")
    '**Could not answer.** The index is missing. Run: coach index'
    """
    return f"**Could not answer.** {message}"


def not_in_handbook_panel(closest: Iterable[tuple[str, str]]) -> str:
    """The side panel after a scope refusal: the state, then the closest questions as links.

    >>> print(not_in_handbook_panel([("Q21", "Temperature")]))
    ### Not in the handbook
    The coach answers only from the handbook. Closest questions:
    <BLANKLINE>
    - [Q21](#cite-Q21) · Temperature
    """
    items = "\n".join(f"- [{ref}]({CITE_PREFIX}{ref}) · {title}" for ref, title in closest)
    return (
        "### Not in the handbook\nThe coach answers only from the handbook. Closest questions:"
        f"\n\n{items or '- none'}"
    )


def timing_line(timing: Mapping, tokens: Mapping, model: str) -> str:
    """One line under the chat: how long the turn took, and on which model if one ran.

    >>> timing_line({"first_token_s": 3.14, "total_s": 9.0}, {"completion": 120}, "m")
    'm · first token 3.1 s · total 9.0 s · 120 tokens'
    >>> timing_line({"first_token_s": None, "total_s": 0.2}, {"completion": 0}, "m")
    'total 0.2 s, no model call'
    """
    if timing.get("first_token_s") is None:
        return f"total {timing.get('total_s', 0.0):.1f} s, no model call"
    return (
        f"{model} · first token {timing['first_token_s']:.1f} s · "
        f"total {timing.get('total_s', 0.0):.1f} s · {tokens.get('completion', 0)} tokens"
    )


# -- eval metrics --------------------------------------------------------------------------


def metric_rows(metrics: Mapping, depth: int = 2) -> list[list]:
    """Scalar metrics as (dotted name, value) rows, nested dicts up to `depth` levels.

    Lists (ROC points, examples) and deeper levels are left to the report file.

    >>> metric_rows({"hybrid": {"hit@1": 0.87654, "by": {"x": 1}}, "n": 3, "roc": [1, 2]})
    [['hybrid.hit@1', 0.8765], ['n', 3]]
    >>> metric_rows({"note": None, "ok": True})
    [['note', '—'], ['ok', 'True']]
    """
    rows: list[list] = []

    def walk(prefix: str, value, level: int) -> None:
        if isinstance(value, Mapping):
            if level < depth:
                for key, sub in value.items():
                    walk(f"{prefix}.{key}" if prefix else str(key), sub, level + 1)
        elif isinstance(value, bool) or value is None:
            rows.append([prefix, "—" if value is None else str(value)])
        elif isinstance(value, int | float):
            rows.append([prefix, round(value, 4) if isinstance(value, float) else value])
        elif isinstance(value, str):
            rows.append([prefix, value if len(value) <= 160 else value[:157] + "..."])

    walk("", metrics, 0)
    return rows


RETRIEVERS = ("bm25", "dense", "hybrid", "rerank")
ANSWER_RATES = (
    "oos_refusal_rate",
    "in_scope_wrong_refusal_rate",
    "citation_validity",
    "in_scope_cited_share",
    "context_recall_by_id",
    "support_mean",
)
GRADE_LEVELS = ("strong", "partial", "wrong", "off_topic")  # the grading set's answer levels


def plot_rows(suite: str, metrics: Mapping) -> list[dict]:
    """Bars for a suite's headline numbers: {"label", "value"} rows, values in 0..1 unless a
    row says its axis ends elsewhere ("top").

    Retrieval: hit@1 / hit@3 / MRR@10 per retriever. Guardrails: detection rate per attack
    category, false-positive rate per benign one. Grading: the mean score (0-10) per answer
    quality level, which should fall from strong to off-topic. Judge: AUC per judge. Any other
    suite: its top-level rates. The label says everything, so one colour serves every suite.

    >>> plot_rows("retrieval", {"bm25": {"hit@1": 0.8, "hit@3": 0.9, "mrr@10": 0.85}})[0]
    {'label': 'bm25 hit@1', 'value': 0.8}
    >>> cats = {"harmful": {"detection_rate": 1.0}, "benign_question": {"fp_rate": 0.02}}
    >>> [row["label"] for row in plot_rows("guardrails", {"categories": cats})]
    ['harmful detected', 'benign_question false +']
    >>> plot_rows("grading", {"by_level": {"strong": {"mean": 8.1}, "wrong": {"n": 0}}})
    [{'label': 'strong mean score', 'value': 8.1, 'top': 10}]
    >>> plot_rows("judge", {"judges": {"coach": {"auc": 0.91}, "llm": {"auc": None}}})
    [{'label': 'coach AUC', 'value': 0.91}]
    >>> plot_rows("other", {"accuracy": 0.7, "n": 12, "mae": 1.5})
    [{'label': 'accuracy', 'value': 0.7}]
    """
    rows: list[dict] = []
    if suite == "retrieval":
        for mode in RETRIEVERS:
            for name in ("hit@1", "hit@3", "mrr@10"):
                value = metrics.get(mode, {}).get(name)
                if value is not None:
                    rows.append({"label": f"{mode} {name}", "value": value})
    elif suite == "guardrails":
        for name, cat in metrics.get("categories", {}).items():
            for key, what in (("detection_rate", "detected"), ("fp_rate", "false +")):
                if key in cat:
                    rows.append({"label": f"{name} {what}", "value": cat[key]})
    elif suite == "grading":
        for level in GRADE_LEVELS:
            mean = metrics.get("by_level", {}).get(level, {}).get("mean")
            if mean is not None:
                rows.append({"label": f"{level} mean score", "value": mean, "top": 10})
    elif suite == "judge":
        for name, judge in metrics.get("judges", {}).items():
            if isinstance(judge, Mapping) and judge.get("auc") is not None:
                rows.append({"label": f"{name} AUC", "value": judge["auc"]})
    else:
        names = ANSWER_RATES if suite == "answer" else metrics.keys()
        for name in names:
            value = metrics.get(name)
            if isinstance(value, float) and 0.0 <= value <= 1.0:
                rows.append({"label": name, "value": value})
    return rows


def _number(value: float, top: float) -> str:
    """A bar's printed value: scores (axis to 10) with one decimal, rates with two."""
    return f"{value:.1f}" if top > 1 else f"{value:.2f}"


def bar_chart_svg(
    rows: list[dict], width: int = 560, height: int = 320, top: float | None = None
) -> str:
    """Bars as inline SVG, labels turned 45 degrees under each bar. The axis runs from 0 to
    `top` (default: the rows' own "top", else 1).

    Drawn here rather than with gr.BarPlot: that one keeps the axis layout of the first data it
    drew, so switching between suites' reports clipped their labels.

    >>> svg = bar_chart_svg([{"label": "bm25 hit@1", "value": 0.8}, {"label": "x", "value": 1}])
    >>> svg.count('class="bar"'), "bm25 hit@1: 0.8" in svg
    (2, True)
    >>> ">5.0</text>" in bar_chart_svg([{"label": "P1", "value": 6.5, "top": 10}])
    True
    >>> bar_chart_svg([])
    '<p>No rates to plot for this report.</p>'
    """
    if not rows:
        return "<p>No rates to plot for this report.</p>"
    top = top or max(float(row.get("top", 1.0)) for row in rows)
    # Room for the y labels, and for the first turned label, which reaches left of its bar.
    longest = max(len(str(row["label"])) for row in rows)
    left, top_pad, bottom = max(36, min(140, 4 * longest)), 12, 120
    plot_h = height - top_pad - bottom
    step = (width - left) / len(rows)
    out = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" font-size="11">']
    out.extend(_grid(left, width, top_pad, plot_h, lambda t: _number(t * top, top)))
    for i, row in enumerate(rows):
        value = min(top, max(0.0, float(row["value"])))
        label = html.escape(str(row["label"]))
        x = left + i * step + step * 0.1
        cx = left + (i + 0.5) * step
        bar_h = plot_h * value / top
        base = top_pad + plot_h
        out.append(
            f'<rect class="bar" x="{x:.1f}" y="{base - bar_h:.1f}" width="{step * 0.8:.1f}" '
            f'height="{bar_h:.1f}" fill="{row.get("colour", "#f97316")}">'
            f"<title>{label}: {row['value']}</title></rect>"
            f'<text x="{cx:.1f}" y="{base - bar_h - 3:.1f}" text-anchor="middle" '
            f'fill="currentColor">{_number(value, top)}</text>'
            f'<text transform="translate({cx:.1f},{base + 10}) rotate(-45)" text-anchor="end" '
            f'fill="currentColor">{label}</text>'
        )
    out.append("</svg>")
    return "".join(out)


# -- interview scores ----------------------------------------------------------------------

# One colour per part, in order P1..P9 (the Tableau 10 palette: distinct on light and dark).
PART_COLOURS = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
)


def score_colour(score: float) -> str:
    """Red below 4, amber below 7, green from 7: how a 0-10 grade reads at a glance.

    >>> score_colour(3.9), score_colour(6.5), score_colour(7)
    ('#dc2626', '#d97706', '#16a34a')
    """
    return "#dc2626" if score < 4 else "#d97706" if score < 7 else "#16a34a"


def score_gauge_svg(score: float, label: str = "score", size: int = 180) -> str:
    """A half-circle gauge for a 0-10 score, the arc filled in the score's colour.

    >>> svg = score_gauge_svg(6.5)
    >>> 'data-score="6.5"' in svg, ">6.5</text>" in svg, score_colour(6.5) in svg
    (True, True, True)
    >>> 'class="gauge-fill"' in score_gauge_svg(0)
    False
    """
    value = min(10.0, max(0.0, float(score)))
    cx, cy, r = 100, 100, 80
    angle = math.pi * (1 - value / 10)
    x, y = cx + r * math.cos(angle), cy - r * math.sin(angle)
    arc = f"M {cx - r} {cy} A {r} {r} 0 0 1"
    out = [
        f'<svg class="gauge" data-score="{value:.1f}" viewBox="0 0 200 120" width="{size}" '
        f'role="img" aria-label="{html.escape(label)} {value:.1f} out of 10">',
        f'<path d="{arc} {cx + r} {cy}" fill="none" stroke="#e4e4e7" stroke-width="18"/>',
    ]
    if value > 0:
        out.append(
            f'<path class="gauge-fill" d="{arc} {x:.1f} {y:.1f}" fill="none" '
            f'stroke="{score_colour(value)}" stroke-width="18"/>'
        )
    out.append(
        f'<text x="{cx}" y="{cy - 8}" text-anchor="middle" font-size="34" font-weight="bold" '
        f'fill="currentColor">{value:.1f}</text>'
        f'<text x="{cx}" y="{cy + 14}" text-anchor="middle" font-size="13" '
        f'fill="currentColor">out of 10 · {html.escape(label)}</text></svg>'
    )
    return "".join(out)


def line_chart_svg(
    series: Mapping[str, list[tuple[int, float]]],
    x_labels: list[str],
    colours: Mapping[str, str],
    names: Mapping[str, str] | None = None,
    width: int = 640,
    height: int = 300,
    top: float = 10.0,
) -> str:
    """Lines over evenly spaced x positions (index into `x_labels`), y from 0 to `top`, one
    line and legend entry per series. A series with one point is a dot.

    Even spacing rather than a time axis: practice comes in bursts, and a true time axis would
    squeeze a session's points into one spot and leave weeks of blank.

    >>> svg = line_chart_svg({"P1": [(0, 4.0), (1, 7.5)]}, ["03-01", "03-02"], {"P1": "#000"})
    >>> svg.count('class="point"'), svg.count("<polyline"), "P1 · 03-02: 7.5" in svg
    (2, 1, True)
    >>> line_chart_svg({}, [], {})
    '<p>No graded answers yet.</p>'
    """
    if not x_labels or not any(series.values()):
        return "<p>No graded answers yet.</p>"
    names = names or {}
    left, right, top_pad, bottom = 34, 12, 34, 46
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    step = plot_w / len(x_labels)

    def at(i: int, value: float) -> tuple[float, float]:
        y = top_pad + plot_h * (1 - min(top, max(0.0, value)) / top)
        return left + (i + 0.5) * step, y

    out = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" font-size="11">']
    out.extend(_grid(left, width - right, top_pad, plot_h, lambda t: f"{t * top:g}"))
    # At most about eight x labels, evenly thinned, so they never overlap.
    every = max(1, math.ceil(len(x_labels) / 8))
    for i, text in enumerate(x_labels):
        if i % every == 0 or i == len(x_labels) - 1:
            x, _ = at(i, 0)
            out.append(
                f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                f'fill="currentColor">{html.escape(text)}</text>'
            )
    for n, (key, points) in enumerate(series.items()):
        colour = colours.get(key, "#71717a")
        name = html.escape(names.get(key, key))
        lx = left + n * 64
        out.append(
            f'<rect x="{lx}" y="8" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14}" y="17" fill="currentColor"><title>{name}</title>'
            f"{html.escape(key)}</text>"
        )
        xy = [at(i, v) for i, v in points]
        if len(xy) > 1:
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
            out.append(
                f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for (i, value), (x, y) in zip(points, xy, strict=True):
            tip = f"{name} · {html.escape(x_labels[i])}: {value:g}"
            out.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
                f"<title>{tip}</title></circle>"
            )
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" '
        'fill="currentColor">sessions, oldest to newest (first answer\'s date)</text></svg>'
    )
    return "".join(out)


def hbar_chart_svg(rows: list[dict], width: int = 640, top: float = 10.0) -> str:
    """Horizontal bars for 0..`top` scores, one row each, coloured by `score_colour`; long
    labels fit here where turned ones would not.

    >>> svg = hbar_chart_svg([{"label": "Q21 · Temperature", "value": 2.5}])
    >>> svg.count('class="hbar"'), "Q21 · Temperature: 2.5" in svg
    (1, True)
    >>> hbar_chart_svg([])
    '<p>Nothing to plot yet.</p>'
    """
    if not rows:
        return "<p>Nothing to plot yet.</p>"
    left, right, row_h, top_pad = 250, 40, 24, 8
    height = top_pad + row_h * len(rows) + 20
    plot_w = width - left - right
    out = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" font-size="12">']
    for i, row in enumerate(rows):
        value = min(top, max(0.0, float(row["value"])))
        label = html.escape(str(row["label"]))
        short = label if len(label) <= 40 else label[:39] + "…"
        y = top_pad + i * row_h
        w = max(2.0, plot_w * value / top)  # a 0 still shows as a sliver
        out.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" fill="currentColor">{short}'
            f'</text><rect class="hbar" x="{left}" y="{y + 3}" width="{w:.1f}" '
            f'height="{row_h - 6}" fill="{score_colour(value)}"><title>{label}: {row["value"]}'
            f'</title></rect><text x="{left + w + 4:.1f}" y="{y + 15}" fill="currentColor">'
            f"{value:.1f}</text>"
        )
    base = top_pad + row_h * len(rows)
    for tick in (0.0, 0.5, 1.0):
        x = left + plot_w * tick
        out.append(
            f'<text x="{x:.1f}" y="{base + 14}" text-anchor="middle" fill="currentColor">'
            f"{tick * top:g}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def citation_click_js(prefix: str, button_id: str) -> tuple[str, str]:
    """(page-load script, input script) that open citation links `#<prefix>Q17` in a panel.

    The load script catches clicks on those links, keeps the page from navigating, remembers
    the id and clicks the hidden button `button_id`; the input script hands the remembered id
    to that button's Python handler. Each tab passes its own prefix, so their handlers never
    catch each other's links.
    """
    load = f"""
() => {{
  window.__coachCites = window.__coachCites || {{}};
  if (window.__coachCites["{prefix}"] !== undefined) return;
  window.__coachCites["{prefix}"] = null;
  document.addEventListener("click", (event) => {{
    const link = event.target.closest && event.target.closest('a[href*="#{prefix}"]');
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    window.__coachCites["{prefix}"] = link.getAttribute("href").split("#{prefix}")[1];
    const button = document.getElementById("{button_id}");
    if (button) button.click();
  }}, true);
}}
"""
    pick = f'(ref) => [(window.__coachCites || {{}})["{prefix}"] || ref]'
    return load, pick


def _grid(left: float, right: float, top_pad: float, plot_h: float, label) -> list[str]:
    """Horizontal grid lines at 0, half and full height, each with its y-axis label."""
    out = []
    for tick in (0.0, 0.5, 1.0):
        y = top_pad + plot_h * (1 - tick)
        out.append(
            f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d4d4d8"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="currentColor">'
            f"{label(tick)}</text>"
        )
    return out
