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


# A conversation task (schema 1.1 `task.messages`, e.g. HealthBench) is sent as the conversation itself,
# as the reference harness does: its system turns as the system prompt, the other turns as messages, no
# deliverable framing. Its own layout marker keeps its template hash apart from the deliverable layout.
CONVERSATION_LAYOUT = "conversation-v1: system turns -> system; user/assistant turns as messages"


def template_hash(version: str, conversation: bool = False) -> str:
    parts = [version, CONVERSATION_LAYOUT] if conversation else [version, GENERATION_SYSTEM, GENERATION_TEMPLATE]
    return sha256_text("\n".join(parts))


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
    out = []
    for tid, s in sorted(subs.items()):
        system, messages = generation_messages(s)
        th = template_hash(version, conversation=s.task.messages is not None)
        out += [LLMRequest(model=model, messages=messages, system=system, template_hash=th, replicate=r,
                           tags={"task_id": tid, "role": "candidate"}) for r in range(replicates)]
    return out


def generation_messages(s: Submission) -> tuple[str | None, list[dict[str, str]]]:
    """(system prompt, messages) for the candidate."""
    if s.task.messages is None:
        body = GENERATION_TEMPLATE.format(prompt=s.prompt_text(), attachments=render_attachments(s))
        return GENERATION_SYSTEM, [{"role": "user", "content": body}]
    system = "\n\n".join(m.content for m in s.task.messages if m.role in ("system", "developer")) or None
    turns = [{"role": m.role, "content": m.content} for m in s.task.messages if m.role in ("user", "assistant")]
    if s.attachments:
        turns[-1] = {"role": "user", "content": turns[-1]["content"] + "\n" + render_attachments(s)}
    return system, turns
