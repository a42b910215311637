"""The flow of an item as a diagram (办理流程图): Graphviz `dot` lays it out, as SVG.

Shows the optional online pre-review before formal receipt (网上预审: any application may be filed for
it, with the item's `pre_review` limit, its return branch, and how a pass becomes formal), acceptance
(with its branches: supplement notice 补正, refusal 不予受理), each step with its
role and step limit, the return branch (退回) of every step after the first, the special
procedures (特别程序) the item may need, the decision (approve / deny), the online payment an item
that charges waits for after approval (网上缴费, with its limit and the termination when it passes;
a fee paid at the window, 窗口缴费, is said on the approval) and delivery. A special procedure may start at any step under review, so it hangs off the box
around those steps (审查期间), not off one step. A joint item (并联审批) shows its participating
departments in parallel lanes between the lead unit's acceptance and its unified result; a bundle
(一件事) its member items side by side. Departments and member items are named by name (the codes only
name the nodes).
"""
from __future__ import annotations

from collections.abc import Mapping

import graphviz

from banjian.enums import ItemKind, LimitUnit, Role
from banjian.items.schema import ItemDefinition, Limit, PreReviewPolicy, Step
from workflows.payment import DEFAULT_PAYMENT_LIMIT

ROLE_ZH = {Role.CLERK: "窗口人员", Role.HANDLER: "承办人", Role.APPROVER: "审批人", Role.HEAD: "机关负责人",
           Role.LEAD: "牵头部门协调人"}
FONT = "Noto Sans CJK SC, WenQuanYi Micro Hei, sans-serif"


class DiagramError(RuntimeError):
    """Graphviz is missing or failed."""


def _limit(limit: Limit | None) -> str:
    if limit is None:
        return ""
    unit = "个工作日" if limit.unit == LimitUnit.WORKING_DAYS else "个自然日"
    return f"时限 {limit.value} {unit}"


def _step_label(step: Step) -> str:
    lines = [step.name, ROLE_ZH.get(step.role, step.role.value)]
    if step.limit is not None:
        lines.append(_limit(step.limit))
    return "\n".join(lines)


def _flow(g: graphviz.Digraph, steps: list[Step], prefix: str, entry: str,
          outer: graphviz.Digraph | None = None) -> str:
    """Draw `steps` in `g` after node `entry` with their return branches; returns the last node's
    name. The edge from `entry` goes in `outer` when given (a node named in a lane joins the lane)."""
    last = entry
    previous: str | None = None
    for step in steps:
        node = f"{prefix}{step.id}"
        shape = "box" if step.kind == "review" else "box3d"
        g.node(node, _step_label(step), shape=shape, style="rounded,filled",
               fillcolor="#e8f0fe" if step.kind == "review" else "#fde7c8")
        (outer if outer is not None and last == entry else g).edge(last, node)
        if previous is not None:
            g.edge(node, previous, label="退回", style="dashed", color="#b3261e", fontcolor="#b3261e",
                   constraint="false")
        previous, last = node, node
    return last


def item_diagram(item: ItemDefinition, departments: Mapping[str, str] | None = None,
                 caption: str | None = None, items: Mapping[str, str] | None = None) -> bytes:
    """The SVG of an item's flow; `departments` maps codes to names for the lanes, `items` item codes to
    names for a bundle's members; `caption` replaces "第 N 版" in the title (a draft's diagram says it
    is a draft)."""
    try:
        return item_graph(item, departments, caption, items).pipe(format="svg")
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as e:
        raise DiagramError(str(e)) from e


def charges_online(item: ItemDefinition) -> bool:
    """Whether an approved case of the item waits for a payment (as `workflows/payment.py` decides)."""
    return charges(item) and item.channels.online_payment


def charges(item: ItemDefinition) -> bool:
    """Whether the item charges a fee it can compute (online, or at the window without online payment)."""
    return item.fees.charged and any(f.amount or f.formula for f in item.fees.items)


def _pre_review(g: graphviz.Digraph, item: ItemDefinition) -> None:
    """Online pre-review (网上预审), optional before formal receipt: its limit, return and pass branches."""
    policy = item.pre_review or PreReviewPolicy()
    g.node("pre_review", f"网上预审（可选）\n窗口人员\n{_limit(policy.limit)}\n（不计入办理时限）", shape="box",
           style="rounded,dashed")
    g.edge("apply", "pre_review", label="申请预审", style="dashed")
    g.edge("pre_review", "apply", label="预审退回\n修改后重新提交", style="dashed", color="#b3261e",
           fontcolor="#b3261e", constraint="false")
    passed = "预审通过\n即正式收件" if policy.formal_on_pass else "预审通过\n申请人确认正式提交"
    g.edge("pre_review", "accept", label=passed, style="dashed")


def item_graph(item: ItemDefinition, departments: Mapping[str, str] | None = None,
               caption: str | None = None, items: Mapping[str, str] | None = None) -> graphviz.Digraph:
    """The item's flow as a Graphviz graph (`item_diagram` lays it out)."""
    names = dict(departments or {})
    item_names = dict(items or {})
    title = f"{item.name}（{caption or f'第 {item.version} 版'}）"
    g = graphviz.Digraph(item.code, graph_attr={"rankdir": "TB", "fontname": FONT, "label": title,
                                                "labelloc": "t", "fontsize": "16"},
                         node_attr={"fontname": FONT, "fontsize": "11"}, edge_attr={"fontname": FONT, "fontsize": "10"})
    g.node("apply", "申请人提交申请", shape="oval")
    g.node("accept", f"受理\n窗口人员\n{_limit(item.acceptance_limit)}", shape="box", style="rounded,filled",
           fillcolor="#e6f4ea")
    g.edge("apply", "accept", label="正式提交")
    _pre_review(g, item)
    g.node("supplement", "一次性告知补正\n申请人补正材料（时限暂停）", shape="note")
    g.edge("accept", "supplement", label="补正", style="dashed")
    g.edge("supplement", "accept", label="重新提交", style="dashed")
    g.node("refused", "不予受理", shape="octagon")
    g.edge("accept", "refused", label="不予受理", style="dashed")

    last = "accept"
    if item.kind == ItemKind.JOINT and item.participants:
        g.node("dispatch", "分发并联部门", shape="diamond")
        g.edge(last, "dispatch")
        g.node("collect", "汇总意见", shape="diamond")
        for part in item.participants:
            lane = graphviz.Digraph(f"cluster_{part.department}")
            lane.attr(label=f"{names.get(part.department, part.department)}\n{_limit(part.sub_limit)}",
                      style="rounded", color="#5f6368", fontname=FONT)
            end = _flow(lane, part.steps, f"{part.department}_", "dispatch", outer=g)
            g.subgraph(lane)
            g.edge(end, "collect", label="意见" if part.returns == "opinion" else "决定")
        last = "collect"
    elif item.kind == ItemKind.BUNDLE and item.members:
        g.node("dispatch", "分发成员事项", shape="diamond")
        g.edge(last, "dispatch")
        g.node("collect", "汇总结果", shape="diamond")
        for code in item.members:
            g.node(f"member_{code}", f"成员事项\n{item_names.get(code, code)}", shape="box", style="rounded")
            g.edge("dispatch", f"member_{code}")
            g.edge(f"member_{code}", "collect")
        last = "collect"

    steps = [*item.review_steps(), *([item.decide_step()] if item.decide_step() else [])]
    if steps and item.special_procedures:  # startable at any step under review: drawn off the phase
        g.attr(compound="true")
        phase = graphviz.Digraph("cluster_review")
        phase.attr(label="审查期间（任一环节均可启动特别程序）", style="rounded,dashed", color="#5f6368",
                   fontname=FONT)
        first = f"step_{steps[0].id}"
        last = _flow(phase, steps, "step_", last, outer=g)
        g.subgraph(phase)
        for sp in item.special_procedures:
            node = f"special_{sp.kind}"
            counts = "计入时限" if sp.counts_toward_limit else "不计入时限"
            g.node(node, f"特别程序：{sp.name}\n预计 {sp.expected_days} 天（{counts}）", shape="hexagon")
            g.edge(first, node, label="启动", style="dotted", ltail="cluster_review")
            g.edge(node, first, label="结束", style="dotted", lhead="cluster_review")
    else:
        last = _flow(g, steps, "step_", last)
    g.node("deny", "不予许可", shape="octagon")
    g.edge(last, "deny", label="不予许可", style="dashed")
    g.node("deliver", f"送达\n窗口人员\n{_limit(item.delivery_limit)}", shape="box", style="rounded,filled",
           fillcolor="#e6f4ea")
    if charges_online(item):
        g.node("payment", f"网上缴费\n申请人\n{_limit(item.payment_limit or DEFAULT_PAYMENT_LIMIT)}", shape="box",
               style="rounded,filled", fillcolor="#fff4d6")
        g.edge(last, "payment", label="准予许可")
        g.node("payment_expired", "逾期未缴费\n办件终止", shape="octagon")
        g.edge("payment", "payment_expired", label="逾期", style="dashed")
        g.edge("payment", "deliver", label="已缴费")
    else:
        g.edge(last, "deliver", label="准予许可\n（费用在窗口缴纳）" if charges(item) else "准予许可")
    g.node("concluded", "办结", shape="doublecircle")
    g.edge("deliver", "concluded")
    return g
