"""Write raw_submissions/templates/task_template.xlsx and .csv: one filled-in example task.

Both files hold the same task (Task sheet: field | value | help; Rubric sheet: one row per
checkpoint), so `xpertbench import sheet` gives the same submission from either. Rerun after
changing the fields in pipelines/importers/sheet.py:  .venv/bin/python scripts/make_sheet_template.py
"""

from __future__ import annotations

import csv
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from pipelines.importers.sheet import RUBRIC_COLUMNS, TASK_FIELDS

OUT = Path(__file__).resolve().parent.parent / "raw_submissions" / "templates"

TASK = {
    "submission_id": "xb-fin-sheet-001",
    "benchmark": "xpertbench",
    "domain": "Finance",
    "category": "Financial Engineering & Risk Management",
    "language": "en",
    "submitted_at": "2026-04-02T10:00:00Z",
    "expert_id": "exp-fin-sheet-01",
    "expert_credentials": "CFA; FRM",
    "expert_years_experience": 11,
    "scenario": "You are a credit analyst at a regional bank. Harbour Freight Ltd, a logistics client, "
                "has sent its year-end figures and asks whether it still meets the covenants of its "
                "EUR 40m term loan before the bank's credit committee meets on Friday.",
    "background": "Covenants (tested annually on audited figures): net leverage (net debt / EBITDA) at most "
                  "3.0x; interest cover (EBITDA / net interest expense) at least 4.0x; minimum liquidity "
                  "EUR 5m of cash. Year-end figures: EBITDA EUR 15.2m; gross debt EUR 52.0m; cash EUR 6.4m; "
                  "net interest expense EUR 3.4m. Management expects a new warehouse lease to add EUR 1.1m of "
                  "annual rent from next year, which the loan agreement treats as operating expense.",
    "deliverables": "1. Compute each covenant ratio and state whether it is met and by what headroom.\n"
                    "2. Explain the effect of the new warehouse lease on next year's leverage headroom.\n"
                    "3. Recommend what the credit committee should do, in no more than 300 words.",
    "reference_answer": "Net debt is EUR 52.0m less EUR 6.4m cash, EUR 45.6m; net leverage is 45.6 / 15.2 = 3.0x, "
                        "exactly at the 3.0x limit, so the covenant is met with zero headroom. Interest cover is "
                        "15.2 / 3.4 = 4.47x against a 4.0x minimum, met with 0.47x of headroom. Liquidity of "
                        "EUR 6.4m exceeds the EUR 5m minimum by EUR 1.4m. The warehouse lease adds EUR 1.1m of "
                        "operating expense, so EBITDA falls to EUR 14.1m on unchanged trading; at the same net "
                        "debt net leverage would be 45.6 / 14.1 = 3.23x, a breach of the 3.0x limit. The committee "
                        "should treat leverage as the binding covenant, ask for a forecast covenant compliance "
                        "certificate, and open talks on a leverage reset or an equity cure before the next test "
                        "date rather than wait for a breach.",
    "anchor_model": "gpt-5",
    "anchor_response": "Net leverage is 45.6 / 15.2 = 3.0x, so the limit is met exactly. Interest cover is 4.47x, "
                       "above 4.0x. Cash of EUR 6.4m meets the minimum liquidity covenant. The lease will reduce "
                       "EBITDA. I recommend the committee approves the renewal.",
    "anchor_verified_by": "senior-fin-02",
    "peer_reviewers": "exp-fin-04",
    "senior_spot_check": "yes",
    "review_notes": "",
}

# (criterion, weight, importance, dimension, tag, anchor verdict, rationale)
RUBRIC = [
    ("Computes net debt as EUR 45.6m (gross debt 52.0 less cash 6.4).", 8, "Essential",
     "Accuracy & Factual Correctness", "Calculation", "met", "Uses 45.6 as net debt."),
    ("Computes net leverage as 3.0x (45.6 / 15.2).", 10, "Essential", "Accuracy & Factual Correctness",
     "Calculation", "met", "States 45.6 / 15.2 = 3.0x."),
    ("States that the leverage covenant is met with zero headroom at the 3.0x limit.", 9, "Essential",
     "Depth of Analysis", "Judgement", "met", "Says the limit is met exactly."),
    ("Computes interest cover as about 4.47x (15.2 / 3.4).", 8, "Essential", "Accuracy & Factual Correctness",
     "Calculation", "met", "Gives 4.47x."),
    ("States that interest cover meets the 4.0x minimum with about 0.47x headroom.", 6, "Important",
     "Depth of Analysis", "Judgement", "not_met", "Says above 4.0x but gives no headroom."),
    ("States that liquidity of EUR 6.4m meets the EUR 5m minimum with EUR 1.4m headroom.", 6, "Important",
     "Accuracy & Factual Correctness", "Calculation", "not_met", "No headroom figure."),
    ("Reduces next year's EBITDA by the EUR 1.1m warehouse lease rent to about EUR 14.1m.", 9, "Essential",
     "Depth of Analysis", "Calculation", "not_met", "Only says EBITDA falls."),
    ("Computes pro-forma net leverage of about 3.23x after the warehouse lease.", 9, "Essential",
     "Accuracy & Factual Correctness", "Calculation", "not_met", "No pro-forma ratio."),
    ("Concludes that the pro-forma leverage would breach the 3.0x covenant.", 10, "Essential",
     "Depth of Analysis", "Judgement", "not_met", "Does not foresee the breach."),
    ("Identifies net leverage as the binding covenant.", 6, "Important", "Depth of Analysis",
     "Judgement", "not_met", "Not identified."),
    ("Recommends requesting a forecast covenant compliance certificate.", 5, "Important",
     "Completeness & Executability", "Recommendation", "not_met", "Not recommended."),
    ("Recommends negotiating a leverage reset or an equity cure before the next test date.", 7, "Important",
     "Completeness & Executability", "Recommendation", "not_met", "Recommends approval instead."),
    ("Must not recommend approving the loan without addressing the forecast leverage breach.", 8, "Essential",
     "Safety & Risk Management", "Risk", "not_met", "Recommends approval outright."),
    ("Keeps the recommendation within 300 words.", 2, "Optional", "Constraint Satisfaction",
     "Format", "met", "Short."),
    ("Presents the three covenant tests in a clear list or table.", 3, "Optional",
     "Structure & Formatting", "Format", "met", "Lists each covenant."),
]


def rubric_rows() -> list[list[object]]:
    rows = []
    for i, (crit, w, imp, dim, tag, verdict, why) in enumerate(RUBRIC, start=1):
        polarity = "must_not" if crit.startswith("Must not") else "requirement"
        rows.append([f"c{i:02d}", crit, w, imp, dim, tag, polarity, None, None, verdict, why])
    return rows


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    head = list(RUBRIC_COLUMNS)
    wb = Workbook()
    ws = wb.active
    ws.title = "Task"
    ws.append(["field", "value", "help"])
    for name, help_text in TASK_FIELDS.items():
        ws.append([name, TASK.get(name) or None, help_text])
    ws.column_dimensions["A"].width, ws.column_dimensions["B"].width, ws.column_dimensions["C"].width = 26, 90, 60
    for row in ws.iter_rows(min_row=2):
        row[1].alignment = Alignment(wrap_text=True, vertical="top")
    rs = wb.create_sheet("Rubric")
    rs.append(head)
    for r in rubric_rows():
        rs.append(r)
    rs.column_dimensions["B"].width = 80
    for sheet in (ws, rs):
        for c in sheet[1]:
            c.font = Font(bold=True)
        sheet.freeze_panes = "A2"
    help_sheet = wb.create_sheet("Help")
    help_sheet.append(["Rubric column", "meaning"])
    for name, text in RUBRIC_COLUMNS.items():
        help_sheet.append([name, text])
    wb.save(OUT / "task_template.xlsx")

    with (OUT / "task_template.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["field", "value", "help"])
        for name, help_text in TASK_FIELDS.items():
            w.writerow([name, "" if TASK.get(name) in (None, "") else TASK[name], help_text])
        w.writerow([])
        w.writerow(head)
        for r in rubric_rows():
            w.writerow(["" if v is None else v for v in r])


if __name__ == "__main__":
    main()
