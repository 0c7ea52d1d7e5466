"""Versioned generation prompt: how a task is shown to a candidate model.

The template text is hashed; the hash goes into every call key and every generation row, so a
template edit re-generates and an unchanged template never does.
"""

from __future__ import annotations

from pipelines.core.frames import sha256_text
from pipelines.core.submission import Submission
from pipelines.llm.types import LLMRequest

GENERATION_SYSTEM = (
    "You are a senior professional completing a real work assignment. Follow the deliverable "
    "requirements exactly, use only the information provided unless general professional knowledge "
    "is needed, show calculations where numbers are asked for, and write the complete deliverable."
)

GENERATION_TEMPLATE = """{prompt}
{attachments}
Write the complete deliverable now."""


def template_hash(version: str) -> str:
    return sha256_text("\n".join([version, GENERATION_SYSTEM, GENERATION_TEMPLATE]))


def render_attachments(s: Submission) -> str:
    blocks = []
    for a in s.attachments:
        if a.content:
            blocks.append(f"\n### {a.name}\n{a.content}")
        else:
            desc = f": {a.description}" if a.description else ""
            blocks.append(f"\n### {a.name} (not available as text{desc})")
    return "".join(blocks)


def generation_requests(subs: dict[str, Submission], model: str, version: str, replicates: int) -> list[LLMRequest]:
    """Every candidate call for these tasks, in task order; the same builder serves runs and estimates."""
    th = template_hash(version)
    return [
        LLMRequest(model=model, messages=generation_messages(s), system=GENERATION_SYSTEM,
                   template_hash=th, replicate=r, tags={"task_id": tid, "role": "candidate"})
        for tid, s in sorted(subs.items()) for r in range(replicates)
    ]


def generation_messages(s: Submission) -> list[dict[str, str]]:
    body = GENERATION_TEMPLATE.format(prompt=s.prompt_text(), attachments=render_attachments(s))
    return [{"role": "user", "content": body}]
