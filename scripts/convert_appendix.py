"""Convert the paper's Appendix A examples (../shared/reference/xpertbench_appendix) to our format.

Run once: `python scripts/convert_appendix.py [SRC_DIR]`. The output is committed under
raw_submissions/paper_appendix/. Text is kept verbatim, defects included (see README there).
The paper prints no reference answers, expert identities or anchor verdicts for these tasks.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/reference/xpertbench_appendix"
OUT = ROOT / "raw_submissions/paper_appendix"

# The appendix uses its own tag vocabulary; map each to the nearest of the paper's 16 dimensions
# (Table 2) and keep the original tag alongside.
TAG_TO_DIMENSION = {
    "Authenticity": "Accuracy & Factual Correctness",
    "Accuracy": "Accuracy & Factual Correctness",
    "Depth": "Depth of Analysis",
    "Instruction Following": "Instruction Following",
    "Requirement Identification": "Instruction Following",
    "Logicality": "Logical Coherence",
    "Professionalism": "Domain Expertise",
    "Standardization": "Normativity & Compliance",
    "Completeness": "Completeness & Executability",
    "Comprehensive Application": "Interdisciplinary Integration",
    "Information Processing": "Information Processing",
    "Format Structure": "Structure & Formatting",
    "Innovation": "Novelty & Creativity",
    "Language Expression": "Linguistic Quality",
}
FILES = {
    "A1_finance.json": ("xb-paper-a1", "Finance", "Equity Research & Corporate Analysis"),
    "A2_law.json": ("xb-paper-a2", "Law", "Legal Opinion & Memorandum Drafting"),
    "A3_education.json": ("xb-paper-a3", "Education", "Curriculum Design & Lesson Planning"),
    "A4_stem.json": ("xb-paper-a4", "Engineering & Applied Sciences", "Technical Analysis & Diagnostic Assessment"),
    "A5_hss.json": ("xb-paper-a5", "Humanities & Social Sciences", "Artistic Creation & Cultural Criticism"),
}
CITATION = (
    "Xue Liu, Xin Ma, Yuxin Ma, Yongchang Peng, et al. (ByteDance Seed). XpertBench: Expert Level Tasks "
    "with Rubrics-Based Evaluation. arXiv:2604.02368v4, 2026. https://arxiv.org/abs/2604.02368v4"
)


def convert(name: str) -> dict:
    src = json.loads((SRC / name).read_text(encoding="utf-8"))
    sid, domain, category = FILES[name]
    rubric = []
    for i, row in enumerate(src["rubric"], 1):
        polarity = "must_not" if re.match(r"\s*must not\b", row["criterion"], re.I) else "requirement"
        rubric.append({
            "id": f"c{i:02d}",
            "criterion": row["criterion"],
            "weight": row["points"],
            "importance": row["importance"],
            "dimension": TAG_TO_DIMENSION[row["tag"]],
            "tag": row["tag"],
            "polarity": polarity,
        })
    attachments = [
        {"name": f"Attachment {i}", "media_type": "application/octet-stream",
         "description": text}
        for i, text in enumerate(src.get("attachments_mentioned", []), 1)
    ]
    return {
        "schema_version": "1.0",
        "submission_id": sid,
        "submitted_at": "2026-03-27T00:00:00Z",
        "expert": {"id": f"paper-author-{sid[-2:]}", "domain": domain,
                   "credentials": ["XpertBench expert (identity not published)"]},
        "domain": domain,
        "category": category,
        "language": "en",
        "task": {"prompt": src["prompt"]},
        "attachments": attachments,
        "rubric": rubric,
        "review": {"notes": "Printed in the paper; review record not published."},
        "source": {
            "origin": "paper_appendix",
            "citation": CITATION + f" ({src['source']})",
            "license": src["license"],
            "notes": src.get("notes", ""),
        },
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (sid, _, _) in FILES.items():
        (OUT / f"{sid}.json").write_text(json.dumps(convert(name), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print("wrote", OUT / f"{sid}.json")


if __name__ == "__main__":
    main()
