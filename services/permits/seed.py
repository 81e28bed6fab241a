"""The catalogue the permits service starts with: Qingdao's municipal emergency-management items.

Plain data, loaded once by migration 0002 (`seed_catalogue`). This file is frozen with that
migration: databases already migrated never read it again, so editing it would make new and
old databases disagree. Change the catalogue by publishing a new version
(`POST /items/{code}/versions`) or by a new data migration.

Time limits are in working days (《中华人民共和国行政许可法》第八十二条: 行政许可的期限以工作日
计算，不含法定节假日). Approval modes are not given here: they are derived from the on-site,
publicity and pledge flags (domain.derive_approval_mode).

The department and contact phones are placeholders in the bureau's number range; replace them
with the numbers the bureau publishes (measure 4) before go-live.
"""

from __future__ import annotations

from datetime import date
from typing import Final, Literal, TypedDict


class SeedMaterial(TypedDict):
    name: str
    source: Literal["applicant", "shared"]
    mandatory: bool


class SeedItem(TypedDict):
    code: str
    name: str
    legal_basis: str
    statutory_limit_days: int
    promised_limit_days: int
    requires_onsite_check: bool
    requires_publicity: bool
    pledge_allowed: bool
    materials: list[SeedMaterial]
    service_guide: str
    department: str
    contact_phone: str
    effective_on: date


SEEDED_BY: Final = "migration:0002_seed_catalogue"
# The day the bureau's current list of implementation elements (实施要素) took effect.
SEED_EFFECTIVE_ON: Final = date(2024, 3, 1)
APPROVAL_OFFICE: Final = "行政审批处"

_HAZCHEM_REGULATION = (
    "《危险化学品安全管理条例》（2002年国务院令第344号公布，2011年国务院令第591号修订，"
    "2013年国务院令第645号修正）"
)
_HAZCHEM_LICENCE_MEASURES = (
    "《危险化学品经营许可证管理办法》（原国家安全生产监督管理总局令第55号公布，第79号修正）"
)
_HAZCHEM_PROJECT_MEASURES = (
    "《危险化学品建设项目安全监督管理办法》（原国家安全生产监督管理总局令第45号公布，第79号修正）"
)
_PRECURSOR_REGULATION = "《易制毒化学品管理条例》（国务院令第445号）"
_PRECURSOR_MEASURES = (
    "《非药品类易制毒化学品生产、经营许可办法》（原国家安全生产监督管理总局令第5号）"
)
_NINE_MEASURES = "《应急管理行政审批便民服务九条措施》（青岛市应急管理局）"

_ONLINE = "全程网上办理（24小时受理），审批结果以电子证照送达，任何单位可扫码核验。"


def _m(name: str, source: Literal["applicant", "shared"], mandatory: bool = True) -> SeedMaterial:
    return {"name": name, "source": source, "mandatory": mandatory}


_BUSINESS_LICENCE = _m("营业执照（市场监管部门共享）", "shared")
_MANAGER_CERTIFICATES = _m(
    "主要负责人、安全生产管理人员安全生产知识和管理能力考核合格证明", "shared"
)
_EXISTING_LICENCE = _m("原危险化学品经营许可证（电子证照）", "shared")

SEED_ITEMS: Final[tuple[SeedItem, ...]] = (
    {
        "code": "QD-AJ-001",
        "name": "危险化学品经营许可证核发（新办）",
        "legal_basis": f"{_HAZCHEM_REGULATION}第三十三条、第三十四条、第三十五条；"
        f"{_HAZCHEM_LICENCE_MEASURES}第六条、第八条、第十七条",
        "statutory_limit_days": 30,
        "promised_limit_days": 5,
        "requires_onsite_check": True,
        "requires_publicity": False,
        "pledge_allowed": False,
        "materials": [
            _m("危险化学品经营许可证申请表", "applicant"),
            _BUSINESS_LICENCE,
            _MANAGER_CERTIFICATES,
            _m("经营和储存场所、设施产权或者租赁证明文件", "applicant"),
            _m("安全生产规章制度和岗位操作规程目录清单", "applicant"),
            _m("生产安全事故应急预案备案登记表", "shared"),
            _m("特种作业人员操作证", "shared", mandatory=False),
            _m("储存设施安全评价报告（带有储存设施的）", "applicant", mandatory=False),
        ],
        "service_guide": "申请条件：经营场所、储存设施符合国家标准和行业标准，主要负责人和安全"
        "生产管理人员经考核合格，有健全的安全生产规章制度和岗位操作规程，有应急预案和必要的"
        "应急救援器材。办理流程：网上申请—受理—材料审查—现场核查—许可决定—电子证照。"
        f"市级及以上重点项目可申请“嵌入式”提前指导。{_ONLINE}",
        "department": APPROVAL_OFFICE,
        "contact_phone": "0532-85912101",
        "effective_on": SEED_EFFECTIVE_ON,
    },
    {
        "code": "QD-AJ-002",
        "name": "危险化学品经营许可证延期",
        "legal_basis": f"{_HAZCHEM_REGULATION}第三十五条；{_HAZCHEM_LICENCE_MEASURES}"
        "第二十条、第二十一条",
        "statutory_limit_days": 30,
        "promised_limit_days": 5,
        "requires_onsite_check": True,
        "requires_publicity": False,
        "pledge_allowed": False,
        "materials": [
            _m("危险化学品经营许可证延期申请表", "applicant"),
            _EXISTING_LICENCE,
            _BUSINESS_LICENCE,
            _MANAGER_CERTIFICATES,
            _m("储存设施安全评价报告（带有储存设施的）", "applicant", mandatory=False),
        ],
        "service_guide": "经营许可证有效期为3年，需要继续从事经营活动的，应当在有效期满3个月前"
        "提出延期申请。办理流程：网上申请—受理—材料审查—现场核查—延期决定—电子证照。"
        f"{_ONLINE}",
        "department": APPROVAL_OFFICE,
        "contact_phone": "0532-85912101",
        "effective_on": SEED_EFFECTIVE_ON,
    },
    {
        "code": "QD-AJ-003",
        "name": "危险化学品经营许可证变更（企业名称、注册地址）",
        "legal_basis": f"{_HAZCHEM_LICENCE_MEASURES}第十八条；{_NINE_MEASURES}",
        "statutory_limit_days": 10,
        "promised_limit_days": 0,
        "requires_onsite_check": False,
        "requires_publicity": False,
        "pledge_allowed": False,
        "materials": [
            _m("危险化学品经营许可证变更申请表", "applicant"),
            _m("变更后的营业执照（市场监管部门共享）", "shared"),
            _EXISTING_LICENCE,
        ],
        "service_guide": "企业名称、注册地址变更的，应当自变更之日起20个工作日内提出变更申请。"
        "简单变更事项实行“秒批”：材料齐全、信息比对一致的，系统即时作出变更决定并换发电子"
        f"证照。{_ONLINE}",
        "department": APPROVAL_OFFICE,
        "contact_phone": "0532-85912102",
        "effective_on": SEED_EFFECTIVE_ON,
    },
    {
        "code": "QD-AJ-004",
        "name": "危险化学品经营许可证变更（主要负责人）",
        "legal_basis": f"{_HAZCHEM_LICENCE_MEASURES}第十八条；{_NINE_MEASURES}",
        "statutory_limit_days": 10,
        "promised_limit_days": 0,
        "requires_onsite_check": False,
        "requires_publicity": False,
        "pledge_allowed": False,
        "materials": [
            _m("危险化学品经营许可证变更申请表", "applicant"),
            _m("新任主要负责人安全生产知识和管理能力考核合格证明", "shared"),
            _m("主要负责人任命文件", "applicant"),
            _EXISTING_LICENCE,
        ],
        "service_guide": "主要负责人变更的，应当自变更之日起20个工作日内提出变更申请。新任主要"
        f"负责人考核合格信息经系统比对一致的，即时“秒批”。{_ONLINE}",
        "department": APPROVAL_OFFICE,
        "contact_phone": "0532-85912102",
        "effective_on": SEED_EFFECTIVE_ON,
    },
    {
        "code": "QD-AJ-005",
        "name": "加油站危险化学品经营许可证延期（承诺制）",
        "legal_basis": f"{_HAZCHEM_REGULATION}第三十五条；{_HAZCHEM_LICENCE_MEASURES}"
        f"第二十条；{_NINE_MEASURES}（加油站延期换证“承诺制”）",
        "statutory_limit_days": 30,
        "promised_limit_days": 1,
        "requires_onsite_check": True,
        "requires_publicity": False,
        "pledge_allowed": True,
        "materials": [
            _m("危险化学品经营许可证延期申请表", "applicant"),
            _m("安全生产承诺书", "applicant"),
            _EXISTING_LICENCE,
            _BUSINESS_LICENCE,
            _MANAGER_CERTIFICATES,
            _m("加油站安全现状评价报告", "applicant", mandatory=False),
        ],
        "service_guide": "加油站签署《安全生产承诺书》，承诺持续符合经营许可条件的，当场换发"
        "延期后的电子证照，现场核查改为发证后核查；核查发现承诺不实的，依法撤销许可并记入"
        f"企业失信记录。不愿承诺的，按一般程序办理。{_ONLINE}",
        "department": APPROVAL_OFFICE,
        "contact_phone": "0532-85912101",
        "effective_on": SEED_EFFECTIVE_ON,
    },
    {
        "code": "QD-AJ-006",
        "name": "烟花爆竹经营（零售）许可证核发",
        "legal_basis": "《烟花爆竹安全管理条例》（国务院令第455号）第十六条、第十八条、"
        "第十九条；《烟花爆竹经营许可实施办法》（原国家安全生产监督管理总局令第65号）",
        "statutory_limit_days": 20,
        "promised_limit_days": 5,
        "requires_onsite_check": True,
        "requires_publicity": False,
        "pledge_allowed": False,
        "materials": [
            _m("烟花爆竹经营（零售）许可证申请书", "applicant"),
            _BUSINESS_LICENCE,
            _m("零售场所产权或者租赁证明文件", "applicant"),
            _m("零售场所平面布置图及周边环境示意图", "applicant"),
            _m("主要负责人安全培训合格证明", "shared"),
        ],
        "service_guide": "零售点应与供货的批发企业签订购销合同，零售场所面积、储存限量和安全"
        "距离符合规定。办理流程：网上申请—受理—材料审查—现场核查—许可决定—电子证照。"
        f"{_ONLINE}",
        "department": APPROVAL_OFFICE,
        "contact_phone": "0532-85912103",
        "effective_on": SEED_EFFECTIVE_ON,
    },
    {
        "code": "QD-AJ-007",
        "name": "第二类非药品类易制毒化学品经营备案",
        "legal_basis": f"{_PRECURSOR_REGULATION}第十三条；{_PRECURSOR_MEASURES}第二十条、"
        "第二十一条、第二十二条",
        "statutory_limit_days": 3,
        "promised_limit_days": 0,
        "requires_onsite_check": False,
        "requires_publicity": False,
        "pledge_allowed": False,
        "materials": [
            _m("非药品类易制毒化学品经营备案申请表", "applicant"),
            _BUSINESS_LICENCE,
            _m("经营品种、数量、主要流向情况说明", "applicant"),
        ],
        "service_guide": "经营第二类非药品类易制毒化学品的，应当自经营之日起30个工作日内备案。"
        f"材料齐全的即时出具备案证明。{_ONLINE}",
        "department": APPROVAL_OFFICE,
        "contact_phone": "0532-85912104",
        "effective_on": SEED_EFFECTIVE_ON,
    },
    {
        "code": "QD-AJ-008",
        "name": "第二类、第三类非药品类易制毒化学品生产备案",
        "legal_basis": f"{_PRECURSOR_REGULATION}第十三条；{_PRECURSOR_MEASURES}第十九条、"
        "第二十一条、第二十二条",
        "statutory_limit_days": 3,
        "promised_limit_days": 0,
        "requires_onsite_check": False,
        "requires_publicity": False,
        "pledge_allowed": False,
        "materials": [
            _m("非药品类易制毒化学品生产备案申请表", "applicant"),
            _BUSINESS_LICENCE,
            _m("生产品种、数量情况说明", "applicant"),
            _m("安全生产许可证（属于危险化学品的）", "shared", mandatory=False),
        ],
        "service_guide": "生产第二类、第三类非药品类易制毒化学品的，应当自生产之日起30个工作日内"
        f"备案。材料齐全的即时出具备案证明。{_ONLINE}",
        "department": APPROVAL_OFFICE,
        "contact_phone": "0532-85912104",
        "effective_on": SEED_EFFECTIVE_ON,
    },
    {
        "code": "QD-AJ-009",
        "name": "生产经营单位生产安全事故应急预案备案",
        "legal_basis": "《中华人民共和国安全生产法》第八十一条；《生产安全事故应急条例》"
        "（国务院令第708号）第五条；《生产安全事故应急预案管理办法》（原国家安全生产监督管理"
        "总局令第88号公布，应急管理部令第2号修正）第二十六条、第二十七条",
        "statutory_limit_days": 5,
        "promised_limit_days": 0,
        "requires_onsite_check": False,
        "requires_publicity": False,
        "pledge_allowed": False,
        "materials": [
            _m("生产经营单位应急预案备案申报表", "applicant"),
            _m("应急预案评审意见（或论证意见）", "applicant"),
            _m("应急预案电子文档", "applicant"),
            _m("风险评估结果和应急资源调查清单", "applicant"),
        ],
        "service_guide": "应急预案经评审或论证、由主要负责人签署公布后20个工作日内备案。材料"
        f"齐全的即时出具《应急预案备案登记表》。{_ONLINE}",
        "department": APPROVAL_OFFICE,
        "contact_phone": "0532-85912105",
        "effective_on": SEED_EFFECTIVE_ON,
    },
    {
        "code": "QD-AJ-010",
        "name": "危险化学品建设项目安全条件审查",
        "legal_basis": "《中华人民共和国安全生产法》第三十二条；"
        f"{_HAZCHEM_REGULATION}第十二条；{_HAZCHEM_PROJECT_MEASURES}第九条至第十三条",
        "statutory_limit_days": 45,
        "promised_limit_days": 15,
        "requires_onsite_check": True,
        "requires_publicity": False,
        "pledge_allowed": False,
        "materials": [
            _m("建设项目安全条件审查申请书", "applicant"),
            _m("建设项目安全评价报告", "applicant"),
            _m("建设项目批准、核准或者备案文件", "shared"),
            _m("规划选址或用地规划文件", "shared"),
            _BUSINESS_LICENCE,
        ],
        "service_guide": "新建、改建、扩建危险化学品生产、储存装置和设施的建设项目，在项目开工"
        "前申请安全条件审查。组织专家审查并现场核查。市级及以上重点项目提供“嵌入式”“订单式”"
        f"提前介入指导。{_ONLINE}",
        "department": APPROVAL_OFFICE,
        "contact_phone": "0532-85912106",
        "effective_on": SEED_EFFECTIVE_ON,
    },
    {
        "code": "QD-AJ-011",
        "name": "危险化学品建设项目安全设施设计审查",
        "legal_basis": f"{_HAZCHEM_REGULATION}第十二条；{_HAZCHEM_PROJECT_MEASURES}"
        "第十四条至第十八条",
        "statutory_limit_days": 20,
        "promised_limit_days": 10,
        "requires_onsite_check": True,
        "requires_publicity": False,
        "pledge_allowed": False,
        "materials": [
            _m("建设项目安全设施设计审查申请书", "applicant"),
            _m("建设项目安全设施设计专篇", "applicant"),
            _m("设计单位的设计资质证明", "shared"),
            _m("建设项目安全条件审查意见书", "shared"),
        ],
        "service_guide": "建设项目安全设施设计完成后、施工前申请审查。组织专家对设计专篇进行"
        f"审查并现场核实。市级及以上重点项目提供“嵌入式”服务。{_ONLINE}",
        "department": APPROVAL_OFFICE,
        "contact_phone": "0532-85912106",
        "effective_on": SEED_EFFECTIVE_ON,
    },
    {
        "code": "QD-AJ-012",
        "name": "特种作业操作证（安全生产类）复审",
        "legal_basis": "《中华人民共和国安全生产法》第三十条；《特种作业人员安全技术培训考核"
        "管理规定》（原国家安全生产监督管理总局令第30号公布，第63号、第80号修正）第二十一条"
        "至第二十五条",
        "statutory_limit_days": 20,
        "promised_limit_days": 0,
        "requires_onsite_check": False,
        "requires_publicity": False,
        "pledge_allowed": False,
        "materials": [
            _m("特种作业操作证复审申请表", "applicant"),
            _m("居民身份证（公安部门共享）", "shared"),
            _m("医疗机构出具的体检证明", "applicant"),
            _m("从事特种作业的情况说明", "applicant"),
            _m("安全培训考试合格记录", "shared"),
        ],
        "service_guide": "特种作业操作证每3年复审1次，持证人应在期满前60日内提出复审申请。"
        f"材料齐全、培训记录比对一致的即时“秒批”。{_ONLINE}",
        "department": APPROVAL_OFFICE,
        "contact_phone": "0532-85912107",
        "effective_on": SEED_EFFECTIVE_ON,
    },
)
