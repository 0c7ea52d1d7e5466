"""Charts for the report, as PNG bytes (matplotlib, headless)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SHORT = {"Engineering & Applied Sciences": "EAS", "Humanities & Social Sciences": "HSS",
         "Computer Science": "CS", "Healthcare": "Health"}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def domain_bars(domain_scores: pd.DataFrame, order: list[str]) -> bytes:
    """Grouped bars per domain, one bar per model, with bootstrap CI whiskers (PNG)."""
    return _png(domain_bars_figure(domain_scores, order))


def domain_bars_figure(domain_scores: pd.DataFrame, order: list[str]):
    """The figure behind `domain_bars`; its legend sits right of the axes, clear of the bars."""
    models = sorted(domain_scores["model"].unique())
    groups = [d for d in order if d in set(domain_scores["domain"])]
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(groups) * max(1, len(models)) / 2), 4))
    width = 0.8 / max(1, len(models))
    x = np.arange(len(groups))
    for i, m in enumerate(models):
        d = domain_scores[domain_scores["model"] == m].set_index("domain").reindex(groups)
        y = d["score"].to_numpy() * 100
        err = np.vstack([(d["score"] - d["ci_lo"]).to_numpy(), (d["ci_hi"] - d["score"]).to_numpy()]) * 100
        ax.bar(x + i * width - 0.4 + width / 2, y, width, yerr=np.nan_to_num(err), capsize=2, label=m)
    ax.set_xticks(x, [SHORT.get(g, g) for g in groups])
    ax.set_ylabel("mean task score (%)")
    ax.set_ylim(0, 100)
    # Outside the axes: inside, it covered the tallest bars (savefig's tight bbox keeps it in the PNG).
    ax.legend(fontsize=8, title="model", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_title("Score by domain (95% bootstrap CI)")
    return fig


def heatmap(wide: pd.DataFrame) -> bytes:
    fig, ax = plt.subplots(figsize=(1.1 * len(wide.columns) + 2, 0.5 * len(wide) + 1.5))
    im = ax.imshow(wide.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(wide.columns)), [SHORT.get(c, c) for c in wide.columns], rotation=30, ha="right")
    ax.set_yticks(range(len(wide.index)), wide.index)
    for (r, c), v in np.ndenumerate(wide.to_numpy(dtype=float)):
        if np.isfinite(v):
            ax.text(c, r, f"{v:.1f}", ha="center", va="center", color="white" if v < 60 else "black", fontsize=8)
    fig.colorbar(im, ax=ax, label="%")
    ax.set_title("Model x domain (mean task score, %)")
    return _png(fig)


def distributions(scores: pd.DataFrame) -> bytes:
    models = sorted(scores["model"].unique())
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(models)), 3.6))
    data = [scores.loc[scores["model"] == m, "score"].dropna().to_numpy() * 100 for m in models]
    ax.boxplot(data, tick_labels=models, showmeans=True)
    for i, d in enumerate(data, 1):
        ax.scatter(np.full(len(d), i) + (np.random.default_rng(i).random(len(d)) - 0.5) * 0.2, d, s=8, alpha=0.5)
    ax.set_ylabel("task score (%)")
    low = min((float(d.min()) for d in data if len(d)), default=0.0)
    ax.set_ylim(min(-2, low - 2), 102)  # points rubrics can score below 0 per task (unclipped)
    ax.set_title("Distribution of task scores")
    return _png(fig)
