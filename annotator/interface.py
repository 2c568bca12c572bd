"""What annotators see in Label Studio: the labelling interface and the task text for one pair.

The interface names are the contract between the tasks pairloop pushes, the predictions it
attaches and the annotations it reads back (:mod:`annotator.annotations`).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from xml.sax.saxutils import quoteattr

from store.taxonomy import FINE_CODES, RELATIONS

# Control names in the interface; results carry them as ``from_name``.
RELATION = "relation"
FINE_CODE = "fine_code"
COMMENT = "comment"
TARGET = "item_1"  # the object tag every control points at (``to_name``)
UNSURE = "unsure"

RELATION_HINTS = {
    "complementary": "bought or used together (tent + sleeping bag)",
    "substitute": "one replaces the other (two tents)",
    "unrelated": "no functional relationship",
}


@dataclass(frozen=True)
class ItemView:
    """One item as annotators see it."""

    title: str
    category: str | None = None
    description: str | None = None
    image_url: str | None = None


def fine_choice_label(code: int) -> str:
    return f"{code} · {FINE_CODES[code]}"


ANSWERS_FIELD = "answers_summary"  # task data of an adjudication: the annotators' answers


def label_config(adjudication: bool = False) -> str:
    """The Label Studio labelling interface (XML) for relation verification.

    The adjudication interface is the same, and also shows the annotators' answers; its LLM
    proposal is shown for reference only (nothing is pre-selected).
    """
    proposal_header = ("LLM proposal (for reference)" if adjudication
                       else "LLM proposal (pre-selected below; change it if it is wrong)")
    answers = (f"""
  <Header value="The annotators' answers (they reached no majority): your answer decides the pair"/>
  <Text name="answers" value="${ANSWERS_FIELD}"/>""" if adjudication else "")
    relation_choices = "\n".join(
        f"      <Choice value={quoteattr(name)} hint={quoteattr(RELATION_HINTS[name])}/>"
        for name in RELATIONS
    )
    fine_choices = "\n".join(
        f"      <Choice value={quoteattr(fine_choice_label(code))} alias=\"{code}\"/>" for code in FINE_CODES
    )
    return f"""<View>
  <View style="display: flex; gap: 1.5em;">
    <View style="flex: 1;">
      <Header value="Item 1"/>
      <HyperText name="item_1" value="$item_1_html" inline="true"/>
    </View>
    <View style="flex: 1;">
      <Header value="Item 2"/>
      <HyperText name="item_2" value="$item_2_html" inline="true"/>
    </View>
  </View>
  <Header value="{proposal_header}"/>
  <Text name="llm_proposal" value="$llm_summary"/>{answers}
  <Header value="How is item 1 related to item 2?"/>
  <Choices name="{RELATION}" toName="{TARGET}" choice="single-radio" required="true" showInline="true">
{relation_choices}
      <Choice value="{UNSURE}" hint="cannot decide: the pair goes to another annotator"/>
  </Choices>
  <Header value="Fine function-based label (optional; item 1 → item 2)"/>
  <Choices name="{FINE_CODE}" toName="{TARGET}" choice="single-radio">
{fine_choices}
  </Choices>
  <TextArea name="{COMMENT}" toName="{TARGET}" placeholder="Comment (optional)"
            maxSubmissions="1" editable="true" rows="2"/>
</View>"""


def item_html(item: ItemView) -> str:
    """An item as escaped HTML: title, category, description, and the image when there is one."""
    parts = [f"<h3>{escape(item.title)}</h3>"]
    if item.category:
        parts.append(f"<p><i>{escape(item.category)}</i></p>")
    if item.description:
        parts.append(f"<p>{escape(item.description)}</p>")
    if item.image_url:
        parts.append(f'<img src="{escape(item.image_url, quote=True)}" alt="" style="max-width: 240px;"/>')
    return "".join(parts)


def proposal_summary(relation: str | None, fine_code: int | None, confidence: float | None,
                     rationale: str | None) -> str:
    """One line for annotators: what the LLM proposed and why."""
    if relation is None:
        return "No LLM proposal for this pair."
    text = relation
    if fine_code is not None:
        text += f" (fine {fine_choice_label(fine_code)})"
    if confidence is not None:
        text += f", confidence {confidence:.2f}"
    return f"{text}. {rationale}" if rationale else f"{text}."
