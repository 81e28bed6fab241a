"""A year of a city's activity, played through the gateway one phase at a time.

Every write is an API call a real user or system would make, with that user's development
token: enterprises apply for licences and report rectifications, officers and leaders decide,
insurers register policies and push their 6+3 services, inspections run the four steps. Events
flow between the services as they would in production, so every /metrics counter moves.

Dates: where an API takes the business date (policy periods, services delivered, risk
assessments, notices served, penalty decisions entered in credit, outreach sessions), it is
spread over the last twelve months; where the server stamps the date itself (applications,
decisions, inspection steps, hazards found), it is today, and the demo does not fake it.

Repeating a run with the same seed does not duplicate: creations carry Idempotency-Keys made
from the seed and the enterprise, a replayed answer is counted as existing and the flow resumes
from the entity's current state; natural keys (USCC, insurer id, policy number) answer 409.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final

from kernel.vocab import Sector
from ops.demo.city import City, EnterpriseProfile, InsurerProfile, person
from ops.demo.client import ApiFailure, Gateway

ADMIN: Final = ("admin", "admin-demo")
LEADER: Final = ("leader", "leader-demo-01")
CHECK_KINDS: Final = frozenset({"key_check", "full_check"})
PDF: Final = "application/pdf"
JPEG: Final = "image/jpeg"


def _digest(*parts: object) -> str:
    """A stable stand-in for the sha256 of an evidence file the demo does not upload."""
    import hashlib

    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


@dataclass
class Run:
    """One load: the city, the gateway, today's date and what earlier phases learnt."""

    city: City
    gateway: Gateway
    today: date
    items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pledge_sha: dict[str, str] = field(default_factory=dict)
    violations: dict[bool, list[dict[str, Any]]] = field(default_factory=dict)
    tiers: dict[str, str] = field(default_factory=dict)
    penalised: set[str] = field(default_factory=set)

    def rng(self, phase: str, e: EnterpriseProfile | str) -> random.Random:
        """Each enterprise's dice per phase: the same whatever order the calls finish in."""
        subject = e.uscc if isinstance(e, EnterpriseProfile) else e
        return random.Random(f"demo:{self.city.seed}:{phase}:{subject}")

    def key(self, kind: str, subject: str) -> str:
        return f"demo-{self.city.seed}-{kind}-{subject}"

    def officer(self, e: EnterpriseProfile, n: int = 0) -> tuple[str, str]:
        officers = self.city.officers
        return "officer", officers[(e.index + n) % len(officers)]

    def team(self, e: EnterpriseProfile) -> list[str]:
        return [self.officer(e)[1], self.officer(e, 1)[1]]

    def past(self, rng: random.Random, earliest: int = 330, latest: int = 0) -> date:
        """A day between `earliest` and `latest` days ago."""
        return self.today - timedelta(days=rng.randint(latest, earliest))


Progress = Callable[[int], None]


async def each(
    things: Sequence[Any], act: Callable[[Any], Awaitable[None]], progress: Progress
) -> None:
    """Run `act` on every thing (the gateway bounds the concurrency) and report progress."""
    done = 0

    async def one(thing: Any) -> None:
        nonlocal done
        try:
            await act(thing)
        finally:
            done += 1
            progress(done)

    await asyncio.gather(*(one(t) for t in things))


# --- reference data -----------------------------------------------------------------------


async def load_catalogue(run: Run) -> None:
    """The item catalogue, pledge texts and common-violations list everyone can read."""
    gw = run.gateway
    items = await gw.pages("permits/items")
    for item in items:
        run.items.setdefault(item["approval_mode"], []).append(item)
        if item["approval_mode"] == "pledge":
            pledge = await gw.get(f"permits/items/{item['code']}/pledge")
            run.pledge_sha[item["code"]] = pledge["sha256"]
    for management in (True, False):
        run.violations[management] = await gw.pages(
            "inspection/guidance/violations", params={"management": str(management).lower()}
        )
    if not run.items.get("instant") or not run.violations[False]:
        raise ApiFailure(0, "catalogue_empty", "the permit catalogue or violations list is empty")


async def register_insurer(run: Run, insurer: InsurerProfile) -> None:
    rng = run.rng("insurer", insurer.id)
    body = {
        "id": insurer.id,
        "name": insurer.name,
        "uscc": insurer.uscc,
        "contact_name": person(rng) + "经理",
        "contact_phone": f"0532-8{rng.randrange(10**6, 10**7)}",
    }
    try:
        answer = await run.gateway.call(
            "POST",
            "insurance/insurers",
            role=ADMIN[0],
            subject=ADMIN[1],
            body=body,
            key=run.key("insurer", insurer.id),
        )
    except ApiFailure as exc:
        if exc.code == "insurer_exists":
            run.gateway.tally.existing["insurer"] += 1
        else:
            run.gateway.tally.fail("insurer", exc.code, exc.detail)
        return
    counter = run.gateway.tally.existing if answer.replayed else run.gateway.tally.created
    counter["insurer"] += 1


# --- the supervision registry -------------------------------------------------------------


async def register_enterprise(run: Run, e: EnterpriseProfile) -> None:
    role, officer = run.officer(e)
    body = {
        "uscc": e.uscc,
        "name": e.name,
        "district": e.district,
        "sector": e.sector.value,
        "standardisation_level": e.standardisation_level,
        "is_specialised": e.is_specialised,
    }
    gw = run.gateway
    try:
        answer = await gw.call(
            "POST",
            "inspection/enterprises",
            role=role,
            subject=officer,
            body=body,
            key=run.key("registry", e.uscc),
        )
        gw.tally.existing["registry entry"] += answer.replayed
        gw.tally.created["registry entry"] += not answer.replayed
        entry = answer.body
    except ApiFailure as exc:
        if exc.status != 409:
            gw.tally.fail("registry entry", exc.code, exc.detail)
            return
        gw.tally.existing["registry entry"] += 1
        entry = await gw.get(f"inspection/enterprises/{e.uscc}", role=role, subject=officer)
    run.tiers[e.uscc] = entry["tier"]


# --- licences -----------------------------------------------------------------------------


def _choose_item(run: Run, e: EnterpriseProfile, rng: random.Random) -> dict[str, Any]:
    pledge = run.items.get("pledge", [])
    standard = run.items.get("standard", [])
    instant = run.items["instant"]
    if e.sector is Sector.gas_station and pledge and rng.random() < 0.8:
        return rng.choice(pledge)
    share_standard = 0.35 if e.is_high_risk else 0.12
    if standard and rng.random() < share_standard:
        return rng.choice(standard)
    return rng.choice(instant)


async def apply_for_licence(run: Run, e: EnterpriseProfile) -> None:
    rng = run.rng("licence", e)
    item = _choose_item(run, e, rng)
    body: dict[str, Any] = {"item_code": item["code"], "enterprise_name": e.name}
    if item["approval_mode"] == "pledge":
        body["pledge"] = {"accepted": True, "text_sha256": run.pledge_sha[item["code"]]}
    if item["approval_mode"] == "standard":
        body["form"] = {"经营场所": e.address, "安全管理负责人": e.manager, "联系电话": e.phone}
    gw = run.gateway
    answer = await gw.create_answer(
        "licence application",
        "POST",
        "permits/applications",
        role="enterprise",
        subject=e.uscc,
        body=body,
        key=run.key("application", e.uscc),
    )
    if answer is None:
        return
    app = answer.body
    if app.get("licence") and app["path"] != "standard" and not answer.replayed:
        gw.tally.created[f"licence ({app['path']})"] += 1
    if app["path"] != "standard":
        return
    # Standard review: most approved, some "no"s proposed and escalated, a few still open.
    fate = rng.choices(("approve", "escalate", "open"), weights=(72, 22, 6))[0]
    if fate == "open":
        return
    path = f"permits/applications/{app['id']}"
    current = await gw.get(path, role="enterprise", subject=e.uscc)
    officer = run.officer(e)
    if current["status"] == "under_review":
        if fate == "approve":
            await _decide(run, current, officer, "approve")
            return
        current = await _decide(
            run,
            current,
            officer,
            "propose_rejection",
            reason="储存设施与周边建筑安全距离不符合国家标准要求",
            legal_basis="《危险化学品经营许可证管理办法》第六条",
        )
    if current is not None and current["status"] == "rejection_proposed":
        if rng.random() < 0.55:
            await _decide(
                run,
                current,
                LEADER,
                "confirm_rejection",
                reason="经复核，安全距离不足且无法整改，依法不予许可",
                legal_basis="《危险化学品经营许可证管理办法》第六条",
            )
        else:
            await _decide(run, current, LEADER, "approve")


async def _decide(
    run: Run,
    app: dict[str, Any],
    actor: tuple[str, str],
    action: str,
    reason: str | None = None,
    legal_basis: str | None = None,
) -> dict[str, Any] | None:
    body = {"action": action, "reason": reason, "legal_basis": legal_basis}
    decided = await run.gateway.create(
        f"review: {action}",
        "POST",
        f"permits/applications/{app['id']}/decisions",
        role=actor[0],
        subject=actor[1],
        if_match=app["version"],
        body={k: v for k, v in body.items() if v is not None},
    )
    if decided is not None and decided.get("licence"):
        run.gateway.tally.created["licence (standard)"] += 1
    return decided


# --- insurance ----------------------------------------------------------------------------


def _insurer_for(run: Run, rng: random.Random) -> InsurerProfile:
    insurers = run.city.insurers
    return rng.choices(insurers, weights=[i.share for i in insurers])[0]


async def insure(run: Run, e: EnterpriseProfile) -> None:
    rng = run.rng("policy", e)
    # 安责险 is compulsory in the high-risk trades; elsewhere a minority buys it.
    if rng.random() >= (0.93 if e.is_high_risk else 0.22):
        return
    insurer = _insurer_for(run, rng)
    starts = run.past(rng, 330, 1)
    coverage = Decimal(rng.choice((100, 200, 300, 500)) * 10_000) * (3 if e.is_high_risk else 1)
    premium = (coverage * Decimal(rng.choice(("0.0025", "0.003", "0.004", "0.006")))).quantize(
        Decimal("1.00")
    )
    custom = [c for c in ("one_plan", "remote_guidance", "onsite_staff") if rng.random() < 0.2]
    number = f"AQZR{starts:%Y}{run.city.seed:05d}{e.index:06d}"
    body = {
        "policy_number": number,
        "uscc": e.uscc,
        "enterprise_name": e.name,
        "sector": e.sector.value,
        "starts_on": starts.isoformat(),
        "ends_on": (starts + timedelta(days=364)).isoformat(),
        "coverage_amount": str(coverage.quantize(Decimal("1.00"))),
        "premium": str(premium),
        "custom_services": custom,
    }
    gw = run.gateway
    as_insurer: dict[str, Any] = {"role": "insurer", "subject": insurer.id}
    try:
        answer = await gw.call(
            "POST", "insurance/policies", body=body, key=run.key("policy", e.uscc), **as_insurer
        )
        gw.tally.existing["policy"] += answer.replayed
        gw.tally.created["policy"] += not answer.replayed
        policy = answer.body
    except ApiFailure as exc:
        if exc.code not in ("policy_exists", "idempotency_key_reused"):
            gw.tally.fail("policy", exc.code, exc.detail)
            return
        gw.tally.existing["policy"] += 1
        found = await gw.pages("insurance/policies", params={"uscc": e.uscc}, **as_insurer)
        if not found:
            return
        policy = found[0]
    await deliver_services(run, e, policy, insurer, rng)


async def deliver_services(
    run: Run,
    e: EnterpriseProfile,
    policy: dict[str, Any],
    insurer: InsurerProfile,
    rng: random.Random,
) -> None:
    """The insurer's 6+3 services that fell due since the policy started, most delivered."""
    gw = run.gateway
    as_insurer: dict[str, Any] = {"role": "insurer", "subject": insurer.id}
    obligations = await gw.pages(f"insurance/policies/{policy['id']}/obligations", **as_insurer)
    due = sorted(
        (
            o
            for o in obligations
            if o["status"] == "open"
            and o["kind"] != "hazard_assistance"
            and date.fromisoformat(o["window_start"]) <= run.today
        ),
        key=lambda o: (o["window_start"], o["seq"]),
    )
    risk = rng.choices(("low", "medium", "high", "major"), weights=(45, 35, 15, 5))[0]
    engineers = [f"安全工程师 {person(rng)}", f"注册安全工程师 {person(rng)}"]
    latest = date.fromisoformat(policy["starts_on"])
    for o in due:
        # Dice per obligation, so that a re-run (fewer left open) decides each one the same.
        rng = run.rng("service", o["id"])
        # Insurers miss some services: those stay open and show as overdue in supervision.
        if o["kind"] != "risk_assessment" and rng.random() < 0.15:
            continue
        start = max(date.fromisoformat(o["window_start"]), latest)
        day = min(run.today, start + timedelta(days=rng.randint(0, 20)))
        latest = day
        evidence = [
            {"name": f"{o['kind']}-{o['seq']}.pdf", "sha256": _digest(o["id"]), "media_type": PDF}
        ]
        key = run.key("service", o["id"])
        if o["kind"] == "risk_assessment":
            body: dict[str, Any] = {
                "policy_id": policy["id"],
                "risk_level": risk,
                "assessed_on": day.isoformat(),
                "assessors": engineers,
                "findings": "对重大危险源、特种设备及应急预案进行评估，形成风险评估报告",
                "hazards_found": rng.randint(0, 6),
                "evidence": evidence,
            }
            made = await gw.create(
                "risk assessment",
                "POST",
                "insurance/insurer/risk-assessments",
                body=body,
                key=key,
                **as_insurer,
            )
        else:
            body = {
                "obligation_id": o["id"],
                "delivered_on": day.isoformat(),
                "performed_by": engineers,
                "summary": _SERVICE_SUMMARY.get(o["kind"], "按服务指南提供个性化安全服务"),
                "evidence": evidence,
            }
            if o["kind"] == "training":
                body["participants"] = rng.randint(12, 240)
            if o["kind"] in CHECK_KINDS:
                body["hazards_found"] = rng.randint(0, 5)
            made = await gw.create(
                f"service: {o['kind']}",
                "POST",
                "insurance/insurer/service-records",
                body=body,
                key=key,
                **as_insurer,
            )
        if made is not None and rng.random() < 0.6:
            officer = run.officer(e)
            await gw.create(
                "service verified",
                "POST",
                f"insurance/obligations/{o['id']}/verification",
                role=officer[0],
                subject=officer[1],
                body={"outcome": "accepted"},
            )


_SERVICE_SUMMARY: Final = {
    "key_check": "季度重点排查：危险作业、特种设备、消防设施",
    "full_check": "半年起底式大检查：全厂区、全流程、全岗位",
    "training": "全员安全生产培训：岗位风险辨识与应急处置",
    "graded_service": "按风险等级提供分类分级服务",
    "one_plan": "编制“一企一策”事故预防方案",
    "remote_guidance": "24小时远程安全指导",
    "onsite_staff": "驻厂驻点安全服务",
}


async def help_with_hazards(run: Run, insurer: InsurerProfile) -> None:
    """The insurer helps with the government-found hazards of the enterprises it covers."""
    gw = run.gateway
    as_insurer: dict[str, Any] = {"role": "insurer", "subject": insurer.id}
    # The tasks are born from inspection's hazard events: give them a moment to arrive
    # (until two looks a second apart agree, 15 s at most) before the insurer works the list.
    tasks: list[Any] | None = None
    for _ in range(15):
        seen = await gw.pages(
            "insurance/obligations", params={"kind": "hazard_assistance"}, **as_insurer
        )
        if tasks is not None and len(seen) == len(tasks):
            break
        tasks = seen
        await asyncio.sleep(1.0)
    tasks = seen
    for task in tasks:
        rng = run.rng("assistance", task["id"])
        if task["status"] != "open" or rng.random() < 0.3:
            continue
        body = {
            "obligation_id": task["id"],
            "assisted_on": max(date.fromisoformat(task["window_start"]), run.today).isoformat(),
            "performed_by": [f"安全工程师 {person(rng)}"],
            "measures": "协助企业制定整改方案，现场指导整改并复核",
            "outcome": rng.choice(("rectified", "in_progress")),
            "evidence": [
                {"name": "整改前后对比.jpg", "sha256": _digest(task["id"]), "media_type": JPEG}
            ],
        }
        await gw.create(
            "hazard assistance",
            "POST",
            "insurance/insurer/hazard-assistance",
            body=body,
            key=run.key("assist", task["id"]),
            **as_insurer,
        )


# --- inspections --------------------------------------------------------------------------


async def inspect(run: Run, e: EnterpriseProfile) -> None:
    rng = run.rng("inspection", e)
    tier = run.tiers.get(e.uscc)
    # Key enterprises are inspected by plan every year; general ones by draw or on a complaint.
    if tier is None or rng.random() >= (0.85 if tier == "key" else 0.12):
        return
    if tier == "key":
        source, reference = "planned", None
    else:
        source, reference = rng.choice(
            (
                ("complaint", f"12345热线工单{run.today:%Y}{rng.randrange(10**6):06d}"),
                ("assignment", f"青应急交办〔{run.today:%Y}〕{rng.randint(1, 60)}号"),
            )
        )
    gw = run.gateway
    officer = run.officer(e)
    as_officer: dict[str, Any] = {"role": officer[0], "subject": officer[1]}
    body: dict[str, Any] = {
        "uscc": e.uscc,
        "source": source,
        "reference": reference,
        "team": run.team(e),
        "notice": {
            "served_on": run.past(rng, 330, 0).isoformat(),
            "text": "依据《中华人民共和国安全生产法》，对你单位开展安全生产执法检查",
        },
        "education_plan": {"topics": [rng.choice(_TOPICS)], "audience": ["主要负责人"]},
    }
    case = await gw.create(
        "inspection",
        "POST",
        "inspection/inspections",
        body=body,
        key=run.key("inspection", e.uscc),
        **as_officer,
    )
    if case is None:
        return
    path = f"inspection/inspections/{case['id']}"
    case = await gw.get(path, **as_officer)
    if case["state"] == "inspecting" and not case.get("findings") and not case.get("hazards"):
        for n in range(rng.choices((0, 1, 2, 3), weights=(35, 35, 20, 10))[0]):
            grade = "major" if rng.random() < 0.05 else "general"
            hazard = {
                "grade": grade,
                "description": rng.choice(_HAZARDS),
                "evidence": [{"sha256": _digest(e.uscc, "hazard", n), "label": "现场照片"}],
            }
            made = await gw.create("hazard", "POST", f"{path}/hazards", body=hazard, **as_officer)
            case = made or case
        for n in range(rng.choices((0, 1, 2), weights=(55, 35, 10))[0]):
            lenient = rng.random() < 0.6
            # Only violations the list declares for this enterprise's sector (or for any).
            fitting = [
                v
                for v in run.violations[lenient] or run.violations[False]
                if not v.get("sectors") or e.sector.value in v["sectors"]
            ]
            if not fitting:
                continue
            violation = rng.choice(fitting)
            finding = {
                "violation_code": violation["code"],
                "description": f"现场检查发现：{violation['title']}"[:2000],
                "evidence": [{"sha256": _digest(e.uscc, "finding", n), "label": "检查记录"}],
                "corrected_on_spot": lenient,
                "is_minor": lenient,
                "harm": "none" if lenient else "harmful",
            }
            made = await gw.create(
                "finding", "POST", f"{path}/findings", body=finding, **as_officer
            )
            case = made or case
    if case["state"] == "inspecting":
        decisions: list[dict[str, Any]] = []
        for number, finding in enumerate(case.get("findings") or [], start=1):
            if finding.get("is_minor"):
                decisions.append({"finding": number})
            else:
                fine = rng.randrange(5, 45) * 1000
                decisions.append({"finding": number, "fine": str(fine), "measures": ["warning"]})
        findings = bool(case.get("findings"))
        deliberation = {
            "minutes": "经合议，事实清楚，证据确凿，依据法律法规及包容审慎执法规定作出决定"
            if findings
            else "经合议，未发现违法行为，检查中发现的隐患责令限期整改",
            "participants": run.team(e),
            "no_findings": not findings and not case.get("hazards"),
            "decisions": decisions,
        }
        made = await gw.create(
            "deliberation", "POST", f"{path}/deliberation", body=deliberation, **as_officer
        )
        if made is None:
            return
        case = made
        if any("fine" in d for d in decisions):
            run.penalised.add(e.uscc)
    if case["state"] == "feedback":
        asked = rng.randint(0, 3)
        feedback = {
            "delivered_on": run.today.isoformat(),
            "lesson": f"结合检查情况讲解{rng.choice(_TOPICS)}的法定要求（一次执法一堂课）",
            "questions_answered": asked,
            "questions": [{"question": q, "answer": a} for q, a in rng.sample(_QUESTIONS, k=asked)],
        }
        await gw.create(
            "inspection closed", "POST", f"{path}/feedback", body=feedback, **as_officer
        )
    for hazard in case.get("hazards") or []:
        await rectify(run, e, hazard, rng)


async def rectify(
    run: Run, e: EnterpriseProfile, hazard: dict[str, Any], rng: random.Random
) -> None:
    """Most hazards are rectified by the enterprise and verified on site."""
    gw = run.gateway
    if hazard["state"] == "open" and rng.random() < 0.7:
        report = {
            "description": "已按要求完成整改，现场恢复正常，相关制度已修订",
            "evidence": [{"sha256": _digest(hazard["id"], "fixed"), "label": "整改后照片"}],
        }
        made = await gw.create(
            "rectification reported",
            "POST",
            f"inspection/hazards/{hazard['id']}/rectification-report",
            role="enterprise",
            subject=e.uscc,
            body=report,
            if_match=hazard["version"],
        )
        hazard = made or hazard
    if hazard["state"] == "reported" and rng.random() < 0.9:
        officer = run.officer(e, 1)
        await gw.create(
            "hazard rectified",
            "POST",
            f"inspection/hazards/{hazard['id']}/verification",
            role=officer[0],
            subject=officer[1],
            body={"passed": True, "note": "现场复核整改到位"},
            if_match=hazard["version"],
        )


_TOPICS: Final = (
    "危险化学品储存安全",
    "有限空间作业安全",
    "动火作业安全管理",
    "安全设备维护保养",
    "粉尘防爆",
    "特种作业人员持证上岗",
    "应急预案与演练",
)
_HAZARDS: Final = (
    "消防通道堆放杂物，疏散通道堵塞",
    "可燃气体报警器未定期检定",
    "配电箱未设置漏电保护装置",
    "有限空间作业场所未设置安全警示标志",
    "叉车作业区域未划定安全通道",
    "危险化学品仓库通风设施损坏",
    "砂轮机防护罩缺失",
)
_QUESTIONS: Final = (
    ("可燃气体报警器多久检定一次？", "按国家标准每年至少检定一次，并做好记录"),
    ("劳务派遣人员需要培训吗？", "需要，纳入本单位从业人员统一管理和培训"),
    ("有限空间作业要审批吗？", "实行作业审批制度，先通风、再检测、后作业"),
    ("应急预案多久演练一次？", "综合或专项预案每年至少一次，现场处置方案每半年至少一次"),
)


# --- credit -------------------------------------------------------------------------------


async def credit_history(run: Run, e: EnterpriseProfile) -> None:
    """Penalties decided over the year, entered in credit; repairs of the old enough ones."""
    rng = run.rng("credit", e)
    gw = run.gateway
    # One enterprise in twenty has a penalty decided earlier in the year on file.
    if e.index % 20 == 3:
        decided = run.past(rng, 330, 20)
        body = {
            "uscc": e.uscc,
            "enterprise_name": e.name,
            "decision_number": f"青应急罚〔{decided:%Y}〕{run.city.seed}-{e.index}号",
            "decided_on": decided.isoformat(),
            "legal_basis": "《中华人民共和国安全生产法》第九十七条",
            "violation_summary": "未按规定对从业人员进行安全生产教育和培训",
            "fine_amount": str(rng.randrange(1, 10) * 5000),
            "severity": "general",
            "source": "manual",
        }
        officer = run.officer(e)
        penalty = await gw.create(
            "penalty (entered)",
            "POST",
            "credit/penalties",
            role=officer[0],
            subject=officer[1],
            body=body,
            key=run.key("penalty", e.uscc),
        )
        run.penalised.add(e.uscc)
        if (
            penalty is not None
            and penalty["is_in_publicity"]
            and date.fromisoformat(penalty["repair_eligible_on"]) <= run.today
            and rng.random() < 0.6
        ):
            await repair(run, e, penalty["id"])
    elif e.uscc not in run.penalised and 1 <= e.standardisation_level <= 2 and rng.random() < 0.4:
        await nominate_red(run, e, rng)


async def repair(run: Run, e: EnterpriseProfile, record_id: str) -> None:
    gw = run.gateway
    body = {
        "target_kind": "record",
        "target_id": record_id,
        "contact_name": e.manager,
        "contact_phone": e.phone,
        "statement": "违法行为已全部纠正，罚款已缴清，承诺今后严格遵守安全生产法律法规",
        "evidence": [
            {"kind": "fine_paid", "title": "罚款缴纳凭证", "document_sha256": _digest(record_id)},
            {
                "kind": "rectification_proof",
                "title": "整改报告",
                "document_sha256": _digest(e.uscc),
            },
        ],
        "commitment_signed": True,
    }
    answer = await gw.create_answer(
        "credit repair",
        "POST",
        "credit/repairs",
        role="enterprise",
        subject=e.uscc,
        body=body,
        key=run.key("repair", record_id),
    )
    # A replayed application was decided by the run that made it.
    if answer is None or answer.replayed or answer.body.get("state") != "pending":
        return
    application = answer.body
    officer = run.officer(e, 2)
    await gw.create(
        "credit repair approved",
        "POST",
        f"credit/repairs/{application['id']}/decision",
        role=officer[0],
        subject=officer[1],
        body={"outcome": "approved", "reason": "材料真实，整改到位，罚款已缴清"},
    )


async def nominate_red(run: Run, e: EnterpriseProfile, rng: random.Random) -> None:
    gw = run.gateway
    officer = run.officer(e)
    level = e.standardisation_level
    body = {
        "uscc": e.uscc,
        "enterprise_name": e.name,
        "standardisation_level": level,
        "standardisation_certificate": f"鲁AQB{'I' * level}{run.today:%Y}{e.index:05d}",
        "accident_free_attested": True,
        "joint_incentive": rng.random() < 0.3,
        "grounds": "安全生产标准化达标，三年内未发生生产安全事故，无行政处罚记录",
    }
    answer = await gw.create_answer(
        "red-list nomination",
        "POST",
        "credit/redlist",
        role=officer[0],
        subject=officer[1],
        body=body,
        key=run.key("redlist", e.uscc),
    )
    # A replayed nomination was decided by the run that made it.
    if answer is None or answer.replayed:
        return
    entry = answer.body
    if rng.random() < 0.85:
        await gw.create(
            "red-list approved",
            "POST",
            f"credit/redlist/{entry['id']}/decision",
            role=LEADER[0],
            subject=LEADER[1],
            body={"outcome": "approved"},
        )


def _month_start(today: date, back: int) -> date:
    """The first day of the month `back` months before today's."""
    months = today.year * 12 + today.month - 1 - back
    return date(months // 12, months % 12 + 1, 1)


# --- outreach (1+21+N) --------------------------------------------------------------------

_GROUPS: Final = (
    ("青岛市安全生产与防灾减灾救灾宣讲团", "committee", "青岛市安全生产委员会", ()),
    (
        "危险化学品安全宣讲团",
        "professional_committee",
        "青岛市危险化学品安全专业委员会",
        ("hazardous_chemicals", "gas_station"),
    ),
    (
        "工贸行业安全宣讲团",
        "professional_committee",
        "青岛市工贸行业安全专业委员会",
        ("machinery", "light_industry", "textiles", "metallurgy", "building_materials"),
    ),
    ("商贸仓储安全宣讲团", "professional_committee", "青岛市商贸行业安全专业委员会", ("trade",)),
)
_THEMES: Final = (
    "安全生产月", "有限空间作业安全", "危险化学品储存", "防汛防台风", "高温季节安全生产",
    "消防安全", "冬季防火", "春节前安全大检查", "复工复产安全", "应急预案演练",
    "特种设备安全", "粉尘防爆",
)  # fmt: skip


async def outreach(run: Run, progress: Progress) -> None:
    """Groups of the 1+21+N system, a theme a month and sessions with their attendance."""
    gw = run.gateway
    officer = run.officer(run.city.enterprises[0])
    bureau: dict[str, Any] = {"role": officer[0], "subject": officer[1]}
    existing = {g["name"]: g for g in await gw.get("inspection/outreach/groups", **bureau)}
    groups = []
    rng = run.rng("outreach", "groups")
    managers = list(run.city.enterprises[:4])
    for name, kind, organiser, sectors in _GROUPS:
        if name in existing:
            gw.tally.existing["outreach group"] += 1
            groups.append(existing[name])
            continue
        members = [
            {
                "kind": "officer",
                "name": person(rng),
                "organisation": "青岛市应急管理局",
                "is_lead": True,
            },
            {"kind": "expert", "name": person(rng), "organisation": "青岛市安全生产专家库"},
            {"kind": "legal_adviser", "name": person(rng), "organisation": "山东琴岛律师事务所"},
            {"kind": "health_ngo", "name": person(rng), "organisation": "青岛市红十字会"},
        ] + [
            {
                "kind": "enterprise_safety_manager",
                "name": m.manager,
                "organisation": m.name,
                "uscc": m.uscc,
                "phone": m.phone,
            }
            for m in managers[:1]
        ]
        body: dict[str, Any] = {
            "name": name,
            "organiser_kind": kind,
            "organiser": organiser,
            "sectors": list(sectors),
            "members": members,
        }
        made = await gw.create(
            "outreach group", "POST", "inspection/outreach/groups", body=body, **bureau
        )
        if made is not None:
            groups.append(made)
    progress(1)
    months = [_month_start(run.today, back) for back in range(12)]
    for first in reversed(months):
        themes = await gw.get("inspection/outreach/themes", params={"year": first.year}, **bureau)
        if any(t["month"] == first.month for t in themes):
            gw.tally.existing["monthly theme"] += 1
            continue
        theme = _THEMES[(first.month - 1) % len(_THEMES)]
        body = {
            "year": first.year,
            "month": first.month,
            "theme": theme,
            "content": f"围绕“{theme}”开展线上线下相结合的定向宣讲",
        }
        await gw.create("monthly theme", "POST", "inspection/outreach/themes", body=body, **bureau)
    progress(2)
    if not groups:
        return
    held = {
        (s["group_id"], s["held_on"], s["topic"])
        for s in await gw.pages("inspection/outreach/sessions", **bureau)
    }
    for k, first in enumerate(months):
        for slot in range(2):
            srng = run.rng("session", f"{first:%Y-%m}-{slot}")
            group = groups[(k + slot) % len(groups)]
            day = min(run.today, first + timedelta(days=srng.randint(3, 26)))
            topic = f"{_THEMES[(first.month - 1) % len(_THEMES)]}专题宣讲"
            if (group["id"], day.isoformat(), topic) in held:
                gw.tally.existing["outreach session"] += 1
                continue
            online = srng.random() < 0.4
            session_body: dict[str, Any] = {
                "group_id": group["id"],
                "held_on": day.isoformat(),
                "topic": topic,
                "sector": (group.get("sectors") or ["other"])[0],
                "mode": "online" if online else "offline",
                "location": None
                if online
                else f"{srng.choice(run.city.enterprises).district}应急管理局会议室",
                "link": "https://live.qingdao.gov.cn/yjj" if online else None,
            }
            session = await gw.create(
                "outreach session",
                "POST",
                "inspection/outreach/sessions",
                body=session_body,
                **bureau,
            )
            if session is None:
                continue
            attending = srng.sample(
                run.city.enterprises, k=min(len(run.city.enterprises), srng.randint(3, 20))
            )
            lines: list[dict[str, Any]] = [
                {
                    "uscc": a.uscc,
                    "enterprise_name": a.name,
                    "attendees": srng.randint(1, 6),
                    "contact_name": a.manager,
                }
                for a in attending
            ]
            attendance: dict[str, Any] = {
                "enterprises": lines,
                "total_attendees": sum(line["attendees"] for line in lines) + srng.randint(0, 80),
                "questions_answered": srng.randint(0, 15),
            }
            await gw.create(
                "session attendance",
                "PUT",
                f"inspection/outreach/sessions/{session['id']}/attendance",
                body=attendance,
                if_match=session.get("version"),
                **bureau,
            )
    progress(3)
