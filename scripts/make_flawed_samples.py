"""Generate raw_submissions/flawed/: one file per kind of malformed input and per curation rule.

Derived deterministically from the sample corpus, so the flaws are the only difference from good
data. Run `python scripts/make_flawed_samples.py`; the output is committed. Hand-written flawed
tasks that need their own content live in raw_submissions/flawed/handwritten/ and are left alone.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RAW = ROOT / "raw_submissions"
OUT = RAW / "flawed" / "generated"


def load(rel: str) -> dict:
    return json.loads((RAW / rel).read_text(encoding="utf-8"))


def dump(name: str, obj: object) -> None:
    (OUT / name).write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def variant(base: dict, sid: str, expert: str, when: str, note: str) -> dict:
    v = copy.deepcopy(base)
    v["submission_id"] = sid
    v["submitted_at"] = when
    v["expert"]["id"] = expert
    v["source"] = {"origin": "test_fixture", "license": "CC BY-SA 4.0", "notes": note}
    return v


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*"):
        old.unlink()
    fin = load("sample/fin/xb-fin-001.json")
    law = load("sample/law/xb-law-002.json")
    eas = load("sample/eas/xb-eas-003.json")
    hc = load("sample/hc/xb-hc-004.json")
    cs = load("sample/cs/xb-cs-005.json")

    # ---- malformed files: each is quarantined with the reason in its name --------------------
    good = variant(fin, "xb-bad-template", "exp-bad-01", "2026-06-01T00:00:00Z", "malformed-file fixture")
    text = json.dumps(good, indent=2, ensure_ascii=False)
    (OUT / "bad_invalid_json.json").write_text(text[: len(text) // 2], encoding="utf-8")  # truncated
    latin = variant(fin, "xb-bad-encoding", "exp-bad-01", "2026-06-01T00:00:00Z", "latin-1 bytes")
    latin["expert"]["credentials"] = ["Diplômée d'études supérieures, Université de Genève"]
    (OUT / "bad_encoding_latin1.json").write_bytes(json.dumps(latin, ensure_ascii=False).encode("latin-1", "replace"))
    (OUT / "bad_empty.json").write_bytes(b"")
    dump("bad_not_an_object.json", [good])

    def bad(name: str, sid: str, mutate) -> None:
        v = variant(fin, sid, "exp-bad-01", "2026-06-01T00:00:00Z", f"malformed-file fixture: {name}")
        mutate(v)
        dump(f"bad_{name}.json", v)

    bad("missing_field", "xb-bad-missing", lambda v: (v.pop("expert"), v.pop("rubric")))
    bad("wrong_type", "xb-bad-type", lambda v: v.update(expert="exp-bad-01", attachments="none"))
    bad("unknown_domain", "xb-bad-domain", lambda v: v.update(domain="Astrology"))
    bad("weight_out_of_range", "xb-bad-weight", lambda v: v["rubric"][0].update(weight=12))
    bad("unknown_dimension", "xb-bad-dimension", lambda v: v["rubric"][1].update(dimension="Vibes"))
    bad("unknown_field", "xb-bad-field", lambda v: v["rubric"][2].update(wieght=5))
    bad("duplicate_checkpoint_ids", "xb-bad-dupids", lambda v: v["rubric"][3].update(id=v["rubric"][2]["id"]))
    bad("anchor_mismatch", "xb-bad-anchor",
        lambda v: v["anchor"]["verdicts"].append({"checkpoint_id": "c99", "verdict": "met", "rationale": "x"}))
    # NaN is not JSON, but Python's json module (and many exporters) write it; it must not become a weight.
    nan = variant(fin, "xb-bad-nan", "exp-bad-01", "2026-06-01T00:00:00Z", "NaN weight")
    nan_text = json.dumps(nan, indent=2, ensure_ascii=False).replace(
        f'"weight": {json.dumps(nan["rubric"][0]["weight"])}', '"weight": NaN', 1)
    (OUT / "bad_nan_weight.json").write_text(nan_text, encoding="utf-8")
    big = variant(fin, "xb-bad-big", "exp-bad-01", "2026-06-01T00:00:00Z", "oversized file")
    big["task"]["background"] += "\n" + ("Padding paragraph of pasted annual report text. " * 6000)
    dump("bad_oversized.json", big)
    # Same id as a sample submission, submitted later: the later file is quarantined.
    dup = variant(law, law["submission_id"], "exp-bad-02", "2026-10-01T00:00:00Z", "reused submission id")
    dump("bad_duplicate_submission_id.json", dup)

    # ---- valid files that curation must drop, one per rule -----------------------------------
    # expert_cap: the sample's expert gets a third (kept, then dropped for other reasons) and a fourth.
    expert = fin["expert"]["id"]
    noref = variant(eas, "xb-flaw-noref", expert, "2026-09-01T00:00:00Z", "curation: no reference answer")
    noref.pop("reference_answer", None)
    noref["domain"] = noref["expert"]["domain"] = eas["domain"]
    dump("curation_reference_answer.json", noref)
    cap = variant(hc, "xb-flaw-cap", expert, "2026-09-02T00:00:00Z", "curation: expert's 4th submission")
    dump("curation_expert_cap.json", cap)
    comp = variant(cs, "xb-flaw-component", "exp-flaw-01", "2026-09-03T00:00:00Z", "curation: no background")
    comp["task"].pop("background", None)
    dump("curation_missing_component.json", comp)
    lang = variant(law, "xb-flaw-language", "exp-flaw-02", "2026-09-04T00:00:00Z", "curation: language")
    lang["language"] = "de"
    dump("curation_language.json", lang)
    exact = variant(eas, "xb-flaw-exact", "exp-flaw-03", "2026-09-05T00:00:00Z", "curation: exact duplicate")
    exact["task"] = {k: (v.upper() if isinstance(v, str) else v) for k, v in exact["task"].items()}  # case only
    dump("curation_exact_duplicate.json", exact)
    near = variant(hc, "xb-flaw-near", "exp-flaw-04", "2026-09-06T00:00:00Z", "curation: near duplicate")
    words = near["task"]["deliverables"].split()
    near["task"]["deliverables"] = " ".join(words[: max(1, len(words) - 6)]) + " Keep it under two pages."
    dump("curation_near_duplicate.json", near)
    print("wrote", len(list(OUT.glob("*.json"))), "files to", OUT.relative_to(ROOT))


if __name__ == "__main__":
    main()
