"""Units and layout of the report (and the shared formatting the UI and terminal use)."""

import re

import pandas as pd
import pytest

from pipelines.core import charts
from pipelines.core.aggregates import DOMAIN_ORDER
from pipelines.core.columns import ci_text, fmt, format_frame
from pipelines.core.report import ReportInputs, render

MODELS = ["oracle", "partial"]


def inputs(n_categories: int = 20) -> ReportInputs:
    """Small hand-made tables with the columns the aggregate stage writes."""
    board = pd.DataFrame({"rank": [1, 2], "benchmark": "xpertbench", "model": MODELS, "score": [0.91234, 0.5],
                          "ci_lo": [0.85, 0.5], "ci_hi": [0.95, 0.5], "tasks_complete": [8, 1], "tasks_gold": [8, 8],
                          "truncated_answers": [0, 1], "judge_error_rate": [0.0125, 0.0], "excluded": False, "note": ""})
    domains = pd.DataFrame([{"benchmark": "xpertbench", "model": m, "domain": d, "score": s, "ci_lo": s - 0.1,
                             "ci_hi": s + 0.1, "n_tasks": 4} for m, s in zip(MODELS, (0.9, 0.6))
                            for d in ["Overall", *DOMAIN_ORDER]])
    cats = pd.DataFrame([{"benchmark": "xpertbench", "model": "oracle", "category": f"Category {i:02d}",
                          "score": 0.62, "ci_lo": 0.62 if i == 0 else 0.5, "ci_hi": 0.62 if i == 0 else 0.7,
                          "n_tasks": 1 if i == 0 else 3} for i in range(n_categories)])
    dims = pd.DataFrame({"model": MODELS, "dimension": ["Accuracy", "Accuracy"], "checkpoints": [10, 10],
                         "met": [8.0, 3.0], "met_rate": [0.8, 0.3], "weighted_met_rate": [0.8123, 0.25],
                         "judge_errors": [0, 0]})
    agree = pd.DataFrame([{"benchmark": "xpertbench", "judge_mode": "shotjudge", "scope": "Overall", "n_tasks": 8,
                           "n_checkpoints": 80, "n_labels": 80, "n_judge_errors": 0, "agreement": 0.76,
                           "cdr": 0.52, "cdr_lo": 0.4, "cdr_hi": 0.6, "kappa": 0.5123, "balanced_f1": 0.75,
                           "healthbench_f1": float("nan")}])
    scores = pd.DataFrame([{"task_id": f"t{i}", "model": m, "domain": DOMAIN_ORDER[i % 7], "status": "scored",
                            "score": 0.5 + 0.05 * i, "benchmark": "xpertbench", "rubric_kind": "weighted",
                            "answer_truncated": False} for m in MODELS for i in range(8)])
    return ReportInputs(
        leaderboard=board, domain_scores=domains, category_scores=cats, dimension_scores=dims,
        importance_scores=dims.rename(columns={"dimension": "importance"}).assign(importance="Essential"),
        paired_comparisons=pd.DataFrame([{"benchmark": "xpertbench", "model_a": "oracle", "model_b": "partial",
                                          "shared_tasks": 8, "mean_diff": 0.3, "ci_lo": 0.2, "ci_hi": 0.4,
                                          "excludes_zero": True, "a_wins": 7, "b_wins": 0, "ties": 1}]),
        rubric_item_analytics=pd.DataFrame(columns=["task_id", "checkpoint_id", "flag", "models_met",
                                                    "models_judged", "criterion"]),
        cost_table=pd.DataFrame({"role": ["candidate"], "model": ["oracle"], "for_candidate": ["oracle"],
                                 "calls": [8], "input_tokens": [800], "output_tokens": [400], "cached_tokens": [0],
                                 "cost_usd": [0.0123]}),
        judge_agreement=agree, task_scores=scores,
        lineage=pd.DataFrame({"stage": ["tasks", "rubrics"], "rows": [8, 80]}),
        quarantine=pd.DataFrame(columns=["source_path", "reason", "message"]),
        curation_log=pd.DataFrame({"submission_id": ["x"], "decision": ["dropped"], "rule": ["language"],
                                   "detail": ["declared en, script mostly CJK"]}),
        config_text={"models.yaml": "base_url: https://api.example.com/v1\n"},
    )


@pytest.fixture()
def report(tmp_path):
    html_path, md_path = render(inputs(), tmp_path / "a")
    return html_path.read_text(), md_path.read_text()


def section(html: str, title: str) -> str:
    return html.split(f"<h2>{title}</h2>", 1)[1].split("<h2>", 1)[0]


def cells(table_html: str, col: str) -> list[tuple[str, str]]:
    """(class attribute, text) of every cell of column `col`."""
    heads = re.findall(r"<th[^>]*>(.*?)</th>", table_html)
    i = heads.index(col)
    rows = re.findall(r"<tr>(.*?)</tr>", table_html.split("<tbody>", 1)[1])
    return [re.findall(r"<td([^>]*)>(.*?)</td>", r)[i] for r in rows]


def test_units_percent_one_decimal_counts_integers():
    assert fmt(0.91234, "percent") == "91.2" and fmt(0.5, "percent") == "50.0"
    assert fmt(8.0, "count") == "8" and fmt(float("nan"), "count") == ""
    frame = format_frame(pd.DataFrame({"met": [8.0], "score": [0.5]}), "dimension_scores")
    assert frame.iloc[0].tolist() == ["8", "50.0"]


def test_small_or_degenerate_samples_get_no_interval():
    assert ci_text(0.62, 0.62, 1).startswith("n/a (n=1")
    assert ci_text(0.5, 0.5, 8).startswith("n/a (degenerate")
    assert ci_text(0.5, 0.7, 8) == "50.0 - 70.0"


def test_report_scores_in_percent_with_one_decimal_and_counts_as_integers(report):
    html, md = report
    board = section(html, "Leaderboard")
    assert [t for _, t in cells(board, "score")] == ["91.2", "50.0"]
    assert [t for _, t in cells(board, "judge_error_rate")] == ["1.2", "0.0"]
    assert [t for _, t in cells(board, "ci")][0] == "85.0 - 95.0"
    dims = section(html, "Rubric dimensions")
    assert [t for _, t in cells(dims, "met")] == ["8", "3"]  # stored as floats, shown as counts
    assert "8.000" not in html and "91.234" not in md
    table3 = section(html, "Scores by domain: xpertbench")
    assert [t for _, t in cells(table3, "Overall")] == ["90.0", "60.0"]


def test_text_left_numbers_right_in_html_and_markdown(report):
    html, md = report
    board = section(html, "Leaderboard")
    assert all("num" not in cls for cls, _ in cells(board, "model") + cells(board, "note"))
    assert all("num" in cls for cls, _ in cells(board, "score") + cells(board, "tasks_complete"))
    css = html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert re.search(r"th,td\{[^}]*text-align:left", css) and re.search(r"\.num\{text-align:right", css)
    head = md.split("## Leaderboard", 1)[1].split("| benchmark", 1)[1].splitlines()
    cols = [c.strip() for c in ("| benchmark" + head[0]).strip("|").split("|")]
    seps = [s.strip() for s in head[1].strip("|").split("|")]
    align = dict(zip(cols, seps))
    assert align["model"].startswith(":") and not align["model"].endswith(":")
    assert align["score"].endswith(":") and not align["score"].startswith(":")


def test_long_tables_fold_short_ones_do_not(report):
    html, md = report
    cats = section(html, "Scores by category")
    assert cats.count("<details>") == 1 and "Show all 20 rows" in cats
    assert "<details>" not in section(html, "Leaderboard")
    assert "<details><summary>Show all 20 rows</summary>" in md


def test_small_sample_ci_is_labelled_not_shown_as_real(report):
    html, md = report
    cats = section(html, "Scores by category")
    first = cells(cats, "ci")[0][1]
    assert first.startswith("n/a (n=1") and "62.0 - 62.0" not in html
    assert cells(section(html, "Leaderboard"), "ci")[1][1].startswith("n/a (n=1")


def test_report_is_deterministic_and_self_contained(tmp_path):
    a = render(inputs(), tmp_path / "a")
    b = render(inputs(), tmp_path / "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    html = a[0].read_text()
    # Nothing is fetched: images inline, no external style sheet, script or font (a URL in the
    # configuration text is only shown, inside <pre>).
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html and "<script" not in html and "<link" not in html
    assert re.findall(r"<img [^>]*src='([^']{0,11})", html) == ["data:image/"] * html.count("<img ")


def test_domain_chart_legend_is_clear_of_the_data():
    dom = inputs().domain_scores
    fig = charts.domain_bars_figure(dom[dom["domain"] != "Overall"], DOMAIN_ORDER)
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    axes = ax.get_window_extent()
    assert not legend.overlaps(axes)
    # Every bar is inside the axes, so no bar is under the legend either.
    assert all(not legend.overlaps(p.get_window_extent()) for p in ax.patches)
