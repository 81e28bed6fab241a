"""guidance lists (common violations, hazardous work, flexible workers, key items), outreach,
registry licence states

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 20:30:00.000000+00:00

The catalogue is frozen here rather than imported from application code: a revision must
produce the same database whenever it runs. Later editions of the lists are new revisions.
Article numbers refer to the Work Safety Law as revised in 2021; where an article number of a
regulation could not be confirmed, the regulation is cited without one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

L = "《中华人民共和国安全生产法》"
HC = "《危险化学品安全管理条例》"
TR = "《生产经营单位安全培训规定》"
HZ = "《安全生产事故隐患排查治理暂行规定》"
EM = "《生产安全事故应急条例》"
EP = "《生产安全事故应急预案管理办法》"
MH = "《危险化学品重大危险源监督管理暂行规定》"
CS = "《工贸企业有限空间作业安全规定》"
DU = "《工贸企业粉尘防爆安全规定》"
SP = "《危险化学品企业特殊作业安全规范》(GB 30871-2022)"
GM = "《工贸企业重大事故隐患判定标准》"
CM = "《化工和危险化学品生产经营单位重大生产安全事故隐患判定标准（试行）》"
FW = "《烟花爆竹安全管理条例》"
HAZ = f"{L}第一百零二条（未采取措施消除事故隐患）"
HIGH_RISK = [
    "hazardous_chemicals",
    "mining",
    "fireworks",
    "metallurgy",
    "nonferrous",
    "gas_station",
]
DANGER = ["hazardous_chemicals", "mining", "fireworks", "metallurgy", "gas_station"]
HCS = ["hazardous_chemicals"]
DUST = [
    "metallurgy",
    "nonferrous",
    "building_materials",
    "machinery",
    "light_industry",
    "textiles",
    "tobacco",
]
METAL = ["metallurgy", "nonferrous"]
AMMONIA = ["light_industry", "trade"]

# (category, title, is_management, legal_basis, penalty_basis, sectors)
VIOLATIONS = [
    # 责任制与机构 (10)
    (
        "责任制与机构",
        "未建立健全全员安全生产责任制，或未明确各岗位的责任人员、责任范围和考核标准",
        True,
        f"{L}第四条、第二十二条",
        f"{L}第九十四条",
        [],
    ),
    (
        "责任制与机构",
        "未建立全员安全生产责任制落实情况的监督考核机制",
        True,
        f"{L}第二十二条",
        f"{L}第九十四条",
        [],
    ),
    (
        "责任制与机构",
        "主要负责人未组织制定并实施本单位安全生产教育和培训计划",
        True,
        f"{L}第二十一条第（三）项",
        f"{L}第九十四条",
        [],
    ),
    (
        "责任制与机构",
        "主要负责人未组织建立并落实安全风险分级管控和隐患排查治理双重预防工作机制",
        True,
        f"{L}第二十一条第（五）项",
        f"{L}第九十四条",
        [],
    ),
    (
        "责任制与机构",
        "主要负责人未督促、检查本单位的安全生产工作，未及时消除生产安全事故隐患",
        True,
        f"{L}第二十一条第（五）项",
        f"{L}第九十四条",
        [],
    ),
    (
        "责任制与机构",
        "主要负责人未组织制定并实施本单位的生产安全事故应急救援预案",
        True,
        f"{L}第二十一条第（六）项",
        f"{L}第九十四条",
        [],
    ),
    (
        "责任制与机构",
        "其他负责人和安全生产管理人员未履行法定的安全生产管理职责",
        True,
        f"{L}第二十五条",
        f"{L}第九十六条",
        [],
    ),
    (
        "责任制与机构",
        "未按照规定设置安全生产管理机构或者配备安全生产管理人员",
        True,
        f"{L}第二十四条",
        f"{L}第九十七条第（一）项",
        [],
    ),
    (
        "责任制与机构",
        "危险物品的生产、储存单位以及矿山、金属冶炼单位未按照规定配备注册安全工程师",
        True,
        f"{L}第二十七条第三款",
        f"{L}第九十七条第（一）项",
        ["hazardous_chemicals", "mining", "metallurgy"],
    ),
    (
        "责任制与机构",
        "主要负责人和安全生产管理人员未按照规定经安全生产知识和管理能力考核合格",
        True,
        f"{L}第二十七条第二款",
        f"{L}第九十七条第（二）项",
        DANGER,
    ),
    # 规章制度与操作规程 (4)
    (
        "规章制度与操作规程",
        "主要负责人未组织制定并实施本单位安全生产规章制度和操作规程",
        True,
        f"{L}第四条、第二十一条第（二）项",
        f"{L}第九十四条",
        [],
    ),
    (
        "规章制度与操作规程",
        "岗位安全操作规程缺失，或与现有工艺、设备不相符未及时修订",
        True,
        f"{L}第二十一条第（二）项",
        f"{L}第九十四条",
        [],
    ),
    (
        "规章制度与操作规程",
        "未向从业人员如实告知作业场所和工作岗位存在的危险因素、防范措施以及事故应急措施",
        True,
        f"{L}第四十四条第一款",
        f"{L}第九十七条第（三）项",
        [],
    ),
    (
        "规章制度与操作规程",
        "安全生产管理人员未对安全生产状况进行经常性检查，或检查及处理情况未如实记录在案",
        True,
        f"{L}第四十六条",
        f"{L}第九十六条",
        [],
    ),
    # 教育培训 (10)
    (
        "教育培训",
        "未按照规定对从业人员进行安全生产教育和培训，或从业人员未经培训合格上岗作业",
        True,
        f"{L}第二十八条第一款",
        f"{L}第九十七条第（三）项",
        [],
    ),
    (
        "教育培训",
        "使用被派遣劳动者未将其纳入本单位从业人员统一管理并进行岗位安全操作规程和安全操作技能的教育和培训",
        True,
        f"{L}第二十八条第二款",
        f"{L}第九十七条第（三）项",
        [],
    ),
    (
        "教育培训",
        "接收学生实习未对实习学生进行相应的安全生产教育和培训",
        True,
        f"{L}第二十八条第三款",
        f"{L}第九十七条第（三）项",
        [],
    ),
    (
        "教育培训",
        "未建立安全生产教育和培训档案，或未如实记录教育和培训的时间、内容、参加人员以及考核结果",
        True,
        f"{L}第二十八条第四款",
        f"{L}第九十七条第（四）项",
        [],
    ),
    (
        "教育培训",
        "采用新工艺、新技术、新材料或者使用新设备，未对从业人员进行专门的安全生产教育和培训",
        True,
        f"{L}第二十九条",
        f"{L}第九十七条第（三）项",
        [],
    ),
    (
        "教育培训",
        "特种作业人员未按照规定经专门的安全作业培训并取得相应资格，上岗作业",
        False,
        f"{L}第三十条",
        f"{L}第九十七条第（七）项",
        [],
    ),
    (
        "教育培训",
        "新上岗从业人员岗前安全培训时间少于规定学时",
        True,
        f"{TR}第十三条",
        f"{L}第九十七条第（三）项",
        [],
    ),
    (
        "教育培训",
        "从业人员调整工作岗位或离岗一年以上重新上岗，未重新进行车间（工段、区、队）级和班组级安全培训",
        True,
        f"{TR}第十五条",
        f"{L}第九十七条第（三）项",
        [],
    ),
    (
        "教育培训",
        "未将安全培训工作纳入本单位工作计划并保证安全培训工作所需资金",
        True,
        TR,
        f"{TR}第二十九条",
        [],
    ),
    (
        "教育培训",
        "从业人员进行安全培训期间未支付工资并承担安全培训费用",
        True,
        f"{L}第四十七条；{TR}",
        f"{TR}第二十九条",
        [],
    ),
    # 安全投入与保险 (6)
    (
        "安全投入与保险",
        "决策机构、主要负责人或者个人经营的投资人未保证安全生产所必需的资金投入，致使不具备安全生产条件",
        True,
        f"{L}第二十三条第一款",
        f"{L}第九十三条",
        [],
    ),
    (
        "安全投入与保险",
        "未按照规定提取和使用安全生产费用",
        True,
        f"{L}第二十三条第二款；《企业安全生产费用提取和使用管理办法》",
        f"{L}第九十三条",
        [],
    ),
    (
        "安全投入与保险",
        "未建立安全生产费用使用台账，或挪用安全生产费用",
        True,
        "《企业安全生产费用提取和使用管理办法》",
        "依照《企业安全生产费用提取和使用管理办法》及有关法律法规处理",
        [],
    ),
    (
        "安全投入与保险",
        "属于国家规定的高危行业、领域的生产经营单位未按照国家规定投保安全生产责任保险",
        True,
        f"{L}第五十一条第二款",
        f"{L}第一百零九条",
        HIGH_RISK,
    ),
    (
        "安全投入与保险",
        "安全生产责任保险期满未及时续保，或未覆盖全体从业人员",
        True,
        f"{L}第五十一条第二款；《安全生产责任保险实施办法》",
        f"{L}第一百零九条",
        HIGH_RISK,
    ),
    (
        "安全投入与保险",
        "与从业人员订立协议，免除或者减轻其对从业人员因生产安全事故伤亡依法应承担的责任",
        True,
        f"{L}第五十二条",
        f"{L}第一百零六条",
        [],
    ),
    # 建设项目安全设施 (5)
    (
        "建设项目安全设施",
        "建设项目安全设施未与主体工程同时设计、同时施工、同时投入生产和使用",
        False,
        f"{L}第三十一条；《建设项目安全设施“三同时”监督管理办法》",
        f"{L}第九十八条",
        [],
    ),
    (
        "建设项目安全设施",
        "未按照规定对矿山、金属冶炼建设项目或者用于生产、储存、装卸危险物品的建设项目进行安全评价",
        False,
        f"{L}第三十二条",
        f"{L}第九十八条第（一）项",
        DANGER,
    ),
    (
        "建设项目安全设施",
        "矿山、金属冶炼建设项目或者用于生产、储存、装卸危险物品的建设项目安全设施设计未按照规定报经有关部门审查同意",
        False,
        f"{L}第三十三条",
        f"{L}第九十八条第（二）项",
        DANGER,
    ),
    (
        "建设项目安全设施",
        "矿山、金属冶炼建设项目或者用于生产、储存危险物品的建设项目的施工单位未按照批准的安全设施设计施工",
        False,
        f"{L}第三十四条第一款",
        f"{L}第九十八条第（三）项",
        DANGER,
    ),
    (
        "建设项目安全设施",
        "矿山、金属冶炼建设项目或者用于生产、储存、装卸危险物品的建设项目竣工投入生产或者使用前，安全设施未经验收合格",
        False,
        f"{L}第三十四条第二款",
        f"{L}第九十八条第（四）项",
        DANGER,
    ),
    # 设备设施 (9)
    (
        "设备设施",
        "未在有较大危险因素的生产经营场所和有关设施、设备上设置明显的安全警示标志",
        False,
        f"{L}第三十五条",
        f"{L}第九十九条第（一）项",
        [],
    ),
    (
        "设备设施",
        "安全设备的安装、使用、检测、改造和报废不符合国家标准或者行业标准",
        False,
        f"{L}第三十六条第一款",
        f"{L}第九十九条第（二）项",
        [],
    ),
    (
        "设备设施",
        "未对安全设备进行经常性维护、保养和定期检测",
        False,
        f"{L}第三十六条第二款",
        f"{L}第九十九条第（三）项",
        [],
    ),
    (
        "设备设施",
        "关闭、破坏直接关系生产安全的监控、报警、防护、救生设备、设施，或者篡改、隐瞒、销毁其相关数据、信息",
        False,
        f"{L}第三十六条第三款",
        f"{L}第九十九条第（四）项",
        [],
    ),
    (
        "设备设施",
        "餐饮等行业的生产经营单位使用燃气未安装可燃气体报警装置，或者未保障其正常使用",
        False,
        f"{L}第三十六条第四款",
        f"{L}第九十九条第（八）项",
        ["trade"],
    ),
    (
        "设备设施",
        "未为从业人员提供符合国家标准或者行业标准的劳动防护用品",
        False,
        f"{L}第四十五条",
        f"{L}第九十九条第（五）项",
        [],
    ),
    (
        "设备设施",
        "危险物品的容器、运输工具未经具有专业资质的机构检测、检验合格，取得安全使用证或者安全标志，投入使用",
        False,
        f"{L}第三十七条",
        f"{L}第九十九条第（六）项",
        ["hazardous_chemicals", "gas_station", "fireworks"],
    ),
    (
        "设备设施",
        "使用应当淘汰的危及生产安全的工艺、设备",
        False,
        f"{L}第三十八条第三款",
        f"{L}第九十九条第（七）项",
        [],
    ),
    (
        "设备设施",
        "爆炸危险区域内使用非防爆电气设备，或防爆电气设备选型、安装不符合要求",
        False,
        f"{L}第三十六条第一款；《爆炸危险环境电力装置设计规范》(GB 50058)",
        f"{L}第九十九条第（二）项",
        [],
    ),
    # 危险作业 (10)
    (
        "危险作业",
        "进行动火作业，未安排专门人员进行现场安全管理",
        False,
        f"{L}第四十三条",
        f"{L}第一百零一条第（三）项",
        [],
    ),
    (
        "危险作业",
        "进行吊装作业，未安排专门人员进行现场安全管理",
        False,
        f"{L}第四十三条",
        f"{L}第一百零一条第（三）项",
        [],
    ),
    (
        "危险作业",
        "进行临时用电作业，未安排专门人员进行现场安全管理",
        False,
        f"{L}第四十三条",
        f"{L}第一百零一条第（三）项",
        [],
    ),
    (
        "危险作业",
        "进行爆破作业，未安排专门人员进行现场安全管理",
        False,
        f"{L}第四十三条",
        f"{L}第一百零一条第（三）项",
        ["mining"],
    ),
    (
        "危险作业",
        "特殊作业前未进行危险有害因素辨识和安全风险分析，未制定并落实安全措施",
        True,
        f"{SP}；{L}第四十一条",
        f"{L}第一百零一条第（四）项",
        HCS,
    ),
    (
        "危险作业",
        "动火作业未办理动火安全作业票，或未按动火作业级别审批",
        False,
        SP,
        f"{L}第一百零一条第（三）项",
        HCS,
    ),
    (
        "危险作业",
        "动火作业前未进行气体分析，或分析合格后超过规定时间未重新分析即动火",
        False,
        SP,
        HAZ,
        HCS,
    ),
    ("危险作业", "高处作业未办理作业票，或作业人员未正确佩戴、系挂安全带", False, SP, HAZ, []),
    (
        "危险作业",
        "盲板抽堵作业未绘制盲板位置图，或未对盲板进行统一编号、挂牌管理",
        False,
        SP,
        HAZ,
        HCS,
    ),
    (
        "危险作业",
        "动土、断路作业未办理作业票，未查明地下设施或未设置警示和围挡",
        False,
        SP,
        HAZ,
        HCS,
    ),
    # 风险管控与隐患排查 (9)
    (
        "风险管控与隐患排查",
        "未建立安全风险分级管控制度",
        True,
        f"{L}第四十一条第一款",
        f"{L}第一百零一条第（四）项",
        [],
    ),
    (
        "风险管控与隐患排查",
        "未开展安全风险辨识评估，或未按照安全风险分级采取相应的管控措施",
        False,
        f"{L}第四十一条第一款",
        f"{L}第一百零一条第（四）项",
        [],
    ),
    (
        "风险管控与隐患排查",
        "未建立事故隐患排查治理制度",
        True,
        f"{L}第四十一条第二款",
        f"{L}第一百零一条第（五）项",
        [],
    ),
    (
        "风险管控与隐患排查",
        "未将事故隐患排查治理情况如实记录",
        True,
        f"{L}第四十一条第二款",
        f"{L}第九十七条第（五）项",
        [],
    ),
    (
        "风险管控与隐患排查",
        "未向从业人员通报事故隐患排查治理情况",
        True,
        f"{L}第四十一条第二款",
        f"{L}第九十七条第（五）项",
        [],
    ),
    (
        "风险管控与隐患排查",
        "重大事故隐患排查治理情况未按照规定向负有安全生产监督管理职责的部门和职工大会或者职工代表大会报告",
        True,
        f"{L}第四十一条第二款",
        f"{L}第一百零一条第（五）项",
        [],
    ),
    (
        "风险管控与隐患排查",
        "未采取措施消除事故隐患",
        False,
        f"{L}第四十一条第二款",
        f"{L}第一百零二条",
        [],
    ),
    ("风险管控与隐患排查", "对重大事故隐患未制定事故隐患治理方案", True, HZ, f"{HZ}第二十六条", []),
    (
        "风险管控与隐患排查",
        "重大事故隐患整改不合格，或者未经审查同意擅自恢复生产经营",
        False,
        HZ,
        f"{HZ}第二十六条",
        [],
    ),
    # 重大危险源 (7)
    (
        "重大危险源",
        "对重大危险源未登记建档",
        True,
        f"{L}第四十条第一款",
        f"{L}第一百零一条第（二）项",
        [],
    ),
    (
        "重大危险源",
        "未对重大危险源进行定期检测、评估、监控",
        False,
        f"{L}第四十条第一款",
        f"{L}第一百零一条第（二）项",
        [],
    ),
    (
        "重大危险源",
        "未制定重大危险源应急预案，或者未告知从业人员和相关人员在紧急情况下应当采取的应急措施",
        True,
        f"{L}第四十条第一款",
        f"{L}第一百零一条第（二）项",
        [],
    ),
    (
        "重大危险源",
        "未按照规定将重大危险源及有关安全措施、应急措施报有关部门备案",
        True,
        f"{L}第四十条第二款",
        MH,
        [],
    ),
    (
        "重大危险源",
        "未按照规定对危险化学品重大危险源进行辨识和分级",
        True,
        f"{MH}；《危险化学品重大危险源辨识》(GB 18218)",
        MH,
        HCS,
    ),
    (
        "重大危险源",
        "危险化学品重大危险源未落实主要负责人、技术负责人、操作负责人安全包保责任",
        True,
        "《危险化学品企业重大危险源安全包保责任制办法（试行）》",
        f"依照{L}有关规定处理",
        HCS,
    ),
    (
        "重大危险源",
        "重大危险源未配备温度、压力、液位等信息的不间断采集和监测系统以及可燃和有毒气体泄漏检测报警装置",
        False,
        MH,
        f"{L}第一百零一条第（二）项",
        HCS,
    ),
    # 危险化学品 (13)
    (
        "危险化学品",
        "生产、经营、储存、使用危险物品或者处置废弃危险物品，未建立专门安全管理制度",
        True,
        f"{L}第三十九条第二款",
        f"{L}第一百零一条第（一）项",
        ["hazardous_chemicals", "gas_station", "fireworks"],
    ),
    (
        "危险化学品",
        "生产、经营、储存、使用危险物品或者处置废弃危险物品，未采取可靠的安全措施",
        False,
        f"{L}第三十九条第二款",
        f"{L}第一百零一条第（一）项",
        ["hazardous_chemicals", "gas_station", "fireworks"],
    ),
    (
        "危险化学品",
        "未取得危险化学品经营许可证从事危险化学品经营",
        False,
        f"{HC}第三十三条",
        f"{HC}第七十七条第三款",
        ["hazardous_chemicals", "gas_station"],
    ),
    (
        "危险化学品",
        "未将危险化学品储存在专用仓库、专用场地或者专用储存室内，或未将剧毒化学品以及储存数量构成重大危险源的其他危险化学品在专用仓库内单独存放",
        False,
        f"{HC}第二十四条",
        f"{HC}第八十条第一款第（四）项",
        HCS,
    ),
    (
        "危险化学品",
        "危险化学品专用仓库未设专人负责管理，或者对剧毒化学品以及储存数量构成重大危险源的其他危险化学品未实行双人收发、双人保管制度",
        True,
        f"{HC}第二十四条",
        f"{HC}第七十八条第一款第（九）项",
        HCS,
    ),
    (
        "危险化学品",
        "储存危险化学品的单位未建立危险化学品出入库核查、登记制度",
        True,
        f"{HC}第二十五条",
        f"{HC}第七十八条第一款第（十）项",
        HCS,
    ),
    (
        "危险化学品",
        "危险化学品的储存方式、方法或者储存数量不符合国家标准或者国家有关规定",
        False,
        f"{HC}第二十四条",
        f"{HC}第八十条第一款第（五）项",
        HCS,
    ),
    (
        "危险化学品",
        "危险化学品专用仓库不符合国家标准、行业标准的要求，或未对专用仓库的安全设施、设备定期进行检测、检验",
        False,
        f"{HC}第二十六条",
        f"{HC}第八十条第一款第（六）项、第（七）项",
        HCS,
    ),
    (
        "危险化学品",
        "未根据危险化学品的种类和危险特性在作业场所设置相应的安全设施、设备，或者未对其进行经常性维护、保养",
        False,
        f"{HC}第二十条第一款",
        f"{HC}第八十条第一款第（二）项",
        HCS,
    ),
    (
        "危险化学品",
        "生产、储存危险化学品的单位未在作业场所设置通信、报警装置",
        False,
        f"{HC}第二十一条",
        f"{HC}第七十八条第一款第（八）项",
        HCS,
    ),
    (
        "危险化学品",
        "生产、储存危险化学品的企业未按照规定对其安全生产条件定期进行安全评价",
        True,
        f"{HC}第二十二条",
        f"{HC}第八十条第一款第（三）项",
        HCS,
    ),
    (
        "危险化学品",
        "危险化学品生产企业未提供化学品安全技术说明书，或者未在包装上粘贴、拴挂化学品安全标签",
        False,
        f"{HC}第十五条",
        f"{HC}第七十八条第一款第（三）项",
        HCS,
    ),
    (
        "危险化学品",
        "涉及重点监管危险化工工艺的装置未实现自动化控制，或者系统未实现紧急停车功能",
        False,
        CM,
        HAZ,
        HCS,
    ),
    # 应急管理 (8)
    (
        "应急管理",
        "未按照规定制定生产安全事故应急救援预案",
        True,
        f"{L}第八十一条",
        f"{L}第九十七条第（六）项",
        [],
    ),
    (
        "应急管理",
        "未定期组织生产安全事故应急救援预案演练",
        True,
        f"{L}第八十一条",
        f"{L}第九十七条第（六）项",
        [],
    ),
    ("应急管理", "未将生产安全事故应急救援预案报送备案", True, EM, f"{EM}第三十二条", []),
    (
        "应急管理",
        "危险物品生产经营储存单位以及矿山、金属冶炼单位未建立应急值班制度或者未配备应急值班人员",
        True,
        EM,
        f"{EM}第三十二条",
        DANGER,
    ),
    (
        "应急管理",
        "未对从业人员进行应急教育和培训，从业人员不了解本岗位应急处置程序和措施",
        True,
        EM,
        f"{EM}第三十条；{L}第九十七条第（三）项",
        [],
    ),
    (
        "应急管理",
        "未配备必要的应急救援器材、设备和物资，或者未进行经常性维护、保养",
        False,
        f"{L}第八十二条",
        f"{EM}第三十一条",
        [],
    ),
    (
        "应急管理",
        "编制应急预案前未开展事故风险辨识、评估和应急资源调查",
        True,
        EP,
        f"依照{EP}处理",
        [],
    ),
    (
        "应急管理",
        "未按照规定开展应急预案评审、评估或者未及时修订应急预案",
        True,
        EP,
        f"依照{EP}处理",
        [],
    ),
    # 承包发包与交叉作业 (6)
    (
        "承包发包与交叉作业",
        "将生产经营项目、场所、设备发包或者出租给不具备安全生产条件或者相应资质的单位或者个人",
        False,
        f"{L}第四十九条第一款",
        f"{L}第一百零三条第一款",
        [],
    ),
    (
        "承包发包与交叉作业",
        "未与承包单位、承租单位签订专门的安全生产管理协议，或者未在承包合同、租赁合同中明确各自的安全生产管理职责",
        True,
        f"{L}第四十九条第二款",
        f"{L}第一百零三条第二款",
        [],
    ),
    (
        "承包发包与交叉作业",
        "未对承包单位、承租单位的安全生产统一协调、管理，未定期进行安全检查",
        True,
        f"{L}第四十九条第二款",
        f"{L}第一百零三条第二款",
        [],
    ),
    (
        "承包发包与交叉作业",
        "发现承包单位、承租单位存在安全问题未及时督促整改",
        True,
        f"{L}第四十九条第二款",
        f"{L}第一百零三条第二款",
        [],
    ),
    (
        "承包发包与交叉作业",
        "两个以上生产经营单位在同一作业区域内进行可能危及对方生产安全的生产经营活动，未签订安全生产管理协议",
        True,
        f"{L}第四十八条",
        f"{L}第一百零四条",
        [],
    ),
    (
        "承包发包与交叉作业",
        "同一作业区域内交叉作业未指定专职安全生产管理人员进行安全检查与协调",
        True,
        f"{L}第四十八条",
        f"{L}第一百零四条",
        [],
    ),
    # 作业场所与疏散 (5)
    (
        "作业场所与疏散",
        "生产、经营、储存、使用危险物品的车间、商店、仓库与员工宿舍在同一座建筑物内",
        False,
        f"{L}第四十二条第一款",
        f"{L}第一百零五条第（一）项",
        [],
    ),
    (
        "作业场所与疏散",
        "生产、经营、储存、使用危险物品的车间、商店、仓库与员工宿舍的距离不符合安全要求",
        False,
        f"{L}第四十二条第一款",
        f"{L}第一百零五条第（一）项",
        [],
    ),
    (
        "作业场所与疏散",
        "生产经营场所和员工宿舍未设有符合紧急疏散需要、标志明显、保持畅通的出口、疏散通道",
        False,
        f"{L}第四十二条第二款",
        f"{L}第一百零五条第（二）项",
        [],
    ),
    (
        "作业场所与疏散",
        "占用、锁闭、封堵生产经营场所或者员工宿舍的出口、疏散通道",
        False,
        f"{L}第四十二条第二款",
        f"{L}第一百零五条第（二）项",
        [],
    ),
    (
        "作业场所与疏散",
        "仓储货架未采取防倾倒措施，或货物堆放超高、超载、占用安全通道",
        False,
        f"{L}第四十一条第二款",
        HAZ,
        ["trade", "light_industry"],
    ),
    # 有限空间 (8)
    (
        "有限空间",
        "未对本单位有限空间进行辨识，未建立有限空间管理台账并及时更新",
        True,
        CS,
        f"依照{CS}和{L}有关规定处理",
        [],
    ),
    (
        "有限空间",
        "未在有限空间出入口等醒目位置设置明显的安全警示标志",
        False,
        f"{L}第三十五条；{CS}",
        f"{L}第九十九条第（一）项",
        [],
    ),
    (
        "有限空间",
        "有限空间作业未经审批，或未制定作业方案",
        False,
        CS,
        f"依照{CS}和{L}有关规定处理",
        [],
    ),
    (
        "有限空间",
        "有限空间作业未执行“先通风、再检测、后作业”，或作业过程中未持续监测",
        False,
        CS,
        f"依照{CS}和{L}有关规定处理",
        [],
    ),
    (
        "有限空间",
        "有限空间作业未安排专职监护人员，或监护人员擅离职守",
        False,
        CS,
        f"依照{CS}和{L}有关规定处理",
        [],
    ),
    (
        "有限空间",
        "未配备符合要求的气体检测报警仪器、通风设备、呼吸防护用品、全身式安全带等防护用品和应急救援装备",
        False,
        f"{L}第四十五条；{CS}",
        f"{L}第九十九条第（五）项",
        [],
    ),
    (
        "有限空间",
        "未对有限空间作业负责人、监护人员、作业人员、应急救援人员进行专项安全培训",
        True,
        f"{L}第二十八条；{CS}",
        f"{L}第九十七条第（三）项",
        [],
    ),
    (
        "有限空间",
        "未制定有限空间作业现场处置方案，或者未按规定组织演练",
        True,
        f"{L}第八十一条；{CS}",
        f"{L}第九十七条第（六）项",
        [],
    ),
    # 粉尘防爆 (8)
    (
        "粉尘防爆",
        "粉尘涉爆企业未建立粉尘防爆安全管理制度，或未明确粉尘防爆安全责任",
        True,
        DU,
        f"依照{DU}和{L}有关规定处理",
        DUST,
    ),
    (
        "粉尘防爆",
        "未开展粉尘爆炸风险辨识评估，未确定粉尘爆炸危险场所的位置、范围",
        True,
        DU,
        f"依照{DU}和{L}有关规定处理",
        DUST,
    ),
    (
        "粉尘防爆",
        "未制定粉尘清扫制度，或作业场所积尘未按规定及时规范清理",
        False,
        DU,
        f"依照{DU}和{L}有关规定处理",
        DUST,
    ),
    (
        "粉尘防爆",
        "粉尘爆炸危险场所设置在非框架结构的多层建（构）筑物内，或与居民区、员工宿舍、会议室等人员聚集场所安全距离不足",
        False,
        f"{DU}；{GM}",
        HAZ,
        DUST,
    ),
    (
        "粉尘防爆",
        "干式除尘系统未按规定采取泄爆、隔爆、惰化、抑爆等控爆措施",
        False,
        f"{DU}；{GM}",
        HAZ,
        DUST,
    ),
    (
        "粉尘防爆",
        "铝镁等金属粉尘湿式除尘系统未采取防止氢气积聚措施",
        False,
        f"{DU}；{GM}",
        HAZ,
        DUST,
    ),
    (
        "粉尘防爆",
        "粉尘爆炸危险场所的电气设备、设施不符合防爆要求",
        False,
        DU,
        f"{L}第九十九条第（二）项",
        DUST,
    ),
    (
        "粉尘防爆",
        "未对粉尘防爆相关岗位从业人员进行粉尘防爆专项安全培训",
        True,
        f"{L}第二十八条；{DU}",
        f"{L}第九十七条第（三）项",
        DUST,
    ),
    # 行业专项 (9)
    (
        "行业专项",
        "会议室、活动室、休息室、更衣室等人员聚集场所设置在熔融金属吊运跨或者浇注跨的地坪区域内",
        False,
        GM,
        HAZ,
        METAL,
    ),
    ("行业专项", "吊运熔融金属的起重机不符合冶金起重机的相关要求", False, GM, HAZ, METAL),
    (
        "行业专项",
        "熔融金属、热渣作业区域的地坑、地沟存在积水，或未采取防止雨水进入的措施",
        False,
        GM,
        HAZ,
        METAL,
    ),
    (
        "行业专项",
        "涉氨制冷企业包装间、分割间、产品整理间等人员较多生产场所的空调系统采用氨直接蒸发制冷",
        False,
        GM,
        HAZ,
        AMMONIA,
    ),
    (
        "行业专项",
        "涉氨制冷场所未按规定设置氨气浓度检测报警装置，或报警装置未与事故排风机联锁",
        False,
        GM,
        HAZ,
        AMMONIA,
    ),
    (
        "行业专项",
        "加油站卸油作业未按规定连接静电接地装置，或未安排专人现场监卸",
        False,
        "《汽车加油加气加氢站技术标准》(GB 50156)",
        HAZ,
        ["gas_station"],
    ),
    (
        "行业专项",
        "烟花爆竹零售经营场所与居民居住场所设置在同一建筑物内",
        False,
        f"{FW}；《烟花爆竹经营许可实施办法》；{L}第四十二条",
        f"{L}第一百零五条第（一）项",
        ["fireworks"],
    ),
    (
        "行业专项",
        "烟花爆竹批发企业仓库超过核定储存量或者超范围储存",
        False,
        f"{FW}；《烟花爆竹经营许可实施办法》",
        f"依照{FW}有关规定处理",
        ["fireworks"],
    ),
    (
        "行业专项",
        "地下矿山安全出口不符合《金属非金属矿山安全规程》要求，或未按规定建立安全避险系统",
        False,
        "《金属非金属矿山安全规程》(GB 16423)",
        HAZ,
        ["mining"],
    ),
    # 事故报告与监督检查 (4)
    (
        "事故报告与监督检查",
        "主要负责人在本单位发生生产安全事故时不立即组织抢救，或者在事故调查处理期间擅离职守",
        False,
        f"{L}第五十条",
        f"{L}第一百一十条",
        [],
    ),
    (
        "事故报告与监督检查",
        "发生生产安全事故后迟报、漏报、谎报或者瞒报",
        False,
        f"{L}第八十三条；《生产安全事故报告和调查处理条例》",
        f"{L}第一百一十条；《生产安全事故报告和调查处理条例》",
        [],
    ),
    (
        "事故报告与监督检查",
        "拒绝、阻碍负有安全生产监督管理职责的部门依法实施监督检查",
        False,
        f"{L}第六十六条",
        f"{L}第一百零八条",
        [],
    ),
    (
        "事故报告与监督检查",
        "违法行为被责令改正并受到罚款处罚后拒不改正",
        False,
        L,
        f"{L}第一百一十二条（按日连续处罚）",
        [],
    ),
]

GB = "《危险化学品企业特殊作业安全规范》(GB 30871-2022)"

# (code, name, definition, permit, key_controls, legal_basis)
HAZARDOUS_WORK = [
    (
        "hot_work",
        "动火作业",
        "在直接或者间接产生明火的工艺设施以外的禁火区内从事可能产生火焰、火花或者炽热表面的非常规作业，如使用电焊、气焊（割）、喷灯、电钻、砂轮、喷砂机等进行的作业。",
        "办理动火安全作业票；按风险分为特级、一级、二级动火，作业级别越高审批层级越高，作业票有效期按级别限定，超期或作业条件变化须重新办理。",
        [
            "动火前辨识危害、制定并落实安全措施，清除周边易燃物，隔绝相连管道设备",
            "动火前进行气体分析，分析合格后方可动火，超过规定间隔或中断作业后须重新分析",
            "特级动火作业应全程连续监测可燃气体浓度并进行视频监控",
            "配备灭火器材，设专人监火，作业结束后检查确认无残留火种",
        ],
        f"{GB}；《中华人民共和国安全生产法》第四十三条",
    ),
    (
        "confined_space",
        "受限空间作业",
        "进入或者探入进出口受限、通风不良、可能存在易燃易爆、有毒有害物质或者缺氧、富氧，对进入人员的身体健康和生命安全构成威胁的封闭、半封闭设施及场所（如反应器、塔、釜、槽、罐、炉膛、管道、地下室、窨井、坑、下水道等）的作业。",
        "办理受限空间安全作业票，一处受限空间、同一作业内容办理一张作业票。",
        [
            "作业前对受限空间进行安全隔绝（加盲板或拆除管道），不得以水封或关闭阀门代替盲板",
            "执行“先通风、再检测、后作业”，氧含量和有毒、可燃气体浓度合格后方可进入，作业中持续或定时监测",
            "出入口外设专人监护，监护人不得离开，与作业人员保持有效联络",
            "配备呼吸防护用品、安全带（绳）等应急救援器材，严禁盲目施救",
        ],
        f"{GB}；《工贸企业有限空间作业安全规定》",
    ),
    (
        "blind_plate",
        "盲板抽堵作业",
        "在设备、管道上安装或者拆卸盲板的作业。",
        "办理盲板抽堵安全作业票，一块盲板一张作业票。",
        [
            "绘制盲板位置图，对盲板统一编号、挂牌标识",
            "作业前降压、降温、排尽介质，确认管道内压力、温度符合作业要求",
            "同一管道上不得同时进行两处及以上的盲板抽堵作业",
            "涉及有毒、易燃易爆介质时采取防毒、防静电、防火花措施，设专人监护",
        ],
        GB,
    ),
    (
        "work_at_height",
        "高处作业",
        "在距坠落基准面2 m及2 m以上有可能坠落的高处进行的作业。",
        "办理高处安全作业票；按作业高度和环境分级，高度越高、条件越复杂，审批层级越高。",
        [
            "作业人员正确佩戴安全帽、系挂安全带，安全带高挂低用",
            "设置防护栏杆、安全网等防坠落设施，脚手架、吊篮等经验收合格",
            "遇五级以上大风、雷雨等恶劣天气停止露天高处作业",
            "作业下方设警戒区，禁止上下垂直交叉作业，工具材料防坠落",
        ],
        GB,
    ),
    (
        "lifting",
        "吊装作业",
        "利用各种吊装机具将设备、工件、器具、材料等吊起，使其发生位置变化的作业。",
        "办理吊装安全作业票；按吊物质量分级，大型或者复杂的吊装作业须编制吊装作业方案并经审批。",
        [
            "作业前检查起重机械、吊索具完好，核对吊物质量与起重能力",
            "设置警戒区域，吊物下方及起重臂回转范围内严禁站人",
            "指定专人指挥，统一信号，遇大风等恶劣天气停止作业",
            "《中华人民共和国安全生产法》规定吊装作业应当安排专门人员进行现场安全管理",
        ],
        f"{GB}；《中华人民共和国安全生产法》第四十三条",
    ),
    (
        "temporary_power",
        "临时用电",
        "在正式运行的电源上所接的非永久性用电。",
        "办理临时用电安全作业票，注明用电期限，超期须重新办理。",
        [
            "临时用电线路和设备由持证电工安装、拆除，按用电负荷选用电缆",
            "配电箱设置漏电保护，做到“一机一闸一保护”",
            "在爆炸危险区域接临时电源时，先进行气体分析并使用防爆电气设备",
            "用电结束后及时拆除临时线路",
        ],
        f"{GB}；《中华人民共和国安全生产法》第四十三条",
    ),
    (
        "excavation",
        "动土作业",
        "挖土、打桩、钻探、坑探、地锚入土深度在0.5 m以上，或使用推土机、压路机等施工机械进行填土或平整场地等可能对地下隐蔽设施产生影响的作业。",
        "办理动土安全作业票，作业前由水、电、汽、工艺、设备、消防、安全等有关部门会签确认地下设施情况。",
        [
            "作业前查明地下电缆、管道等隐蔽设施的位置、走向，并在作业现场标示",
            "挖掘坑、槽、井、沟时按规定放坡或支护，防止坍塌",
            "作业现场设置围栏和警示标志，夜间设警示灯",
            "发现不明地下设施立即停止作业，报告并查明后方可继续",
        ],
        GB,
    ),
    (
        "road_closure",
        "断路作业",
        "在生产区域内的交通主、支路与车间引道上进行工程施工、吊装、吊运等各种影响正常交通的作业。",
        "办理断路安全作业票，并通知相关部门和消防、应急救援单位。",
        [
            "制定交通组织方案，设置交通警示标志和路障",
            "夜间作业设置警示灯，保证消防车辆等应急通道可用",
            "作业结束后清理现场，恢复道路通行并通知相关部门",
        ],
        GB,
    ),
]

# (code, title, worker_kinds, duty, measures, legal_basis)
WORKER_GUIDES = [
    (
        "FW-01",
        "纳入本单位从业人员统一管理",
        ["dispatched"],
        "使用被派遣劳动者的，应当将被派遣劳动者纳入本单位从业人员统一管理，对其进行岗位安全操作规程和安全操作技能的教育和培训；劳务派遣单位应当对被派遣劳动者进行必要的安全生产教育和培训。",
        [
            "将被派遣劳动者纳入全员安全生产责任制和岗位责任清单",
            "上岗前开展岗位安全操作规程和操作技能培训，考核合格后上岗",
            "与劳务派遣单位在协议中明确双方安全生产教育培训职责",
        ],
        f"{L}第二十八条第二款",
    ),
    (
        "FW-02",
        "如实记录教育和培训情况",
        ["dispatched", "flexible", "intern"],
        "建立安全生产教育和培训档案，如实记录被派遣劳动者、灵活用工人员和实习学生教育和培训的时间、内容、参加人员以及考核结果。",
        [
            "一人一档，培训记录由本人签字确认",
            "档案随用工变动及时更新，离岗一年以上重新上岗的重新培训并记录",
        ],
        f"{L}第二十八条第四款",
    ),
    (
        "FW-03",
        "实习学生的安全教育和防护",
        ["intern"],
        "接收中等职业学校、高等学校学生实习的，应当对实习学生进行相应的安全生产教育和培训，提供必要的劳动防护用品；学校应当协助生产经营单位对实习学生进行安全生产教育和培训。",
        ["不得安排实习学生从事高危岗位或特种作业", "配备指导人员，实习前完成岗位安全培训"],
        f"{L}第二十八条第三款",
    ),
    (
        "FW-04",
        "如实告知危险因素和应急措施",
        ["dispatched", "flexible", "intern"],
        "向所有从业人员（含被派遣劳动者和灵活用工人员）如实告知作业场所和工作岗位存在的危险因素、防范措施以及事故应急措施。",
        ["上岗前书面告知岗位风险，在岗位设置风险告知卡", "临时、短期用工人员进场时进行安全交底"],
        f"{L}第四十四条第一款",
    ),
    (
        "FW-05",
        "提供劳动防护用品",
        ["dispatched", "flexible", "intern"],
        "为从业人员提供符合国家标准或者行业标准的劳动防护用品，并监督、教育其按照使用规则佩戴、使用，不得以货币或其他物品替代。",
        ["按岗位风险配备劳动防护用品并建立发放台账", "对佩戴、使用情况进行检查"],
        f"{L}第四十五条",
    ),
    (
        "FW-06",
        "特种作业和危险作业人员资格",
        ["dispatched", "flexible"],
        "被派遣劳动者和灵活用工人员从事特种作业的，必须经专门的安全作业培训，取得相应资格，方可上岗作业；不得安排未经培训的临时人员从事动火、受限空间等危险作业。",
        ["进场时核验特种作业操作证并留存复印件", "危险作业前进行安全交底并安排专人现场安全管理"],
        f"{L}第三十条、第四十三条",
    ),
    (
        "FW-07",
        "外包业务中的灵活用工人员",
        ["flexible"],
        "将生产经营项目、场所、设备发包或者出租的，应当与承包单位、承租单位签订专门的安全生产管理协议，对其从业人员（含灵活用工人员）的安全生产统一协调、管理。",
        ["审核承包单位的安全生产条件和资质", "将承包单位人员纳入现场安全管理、教育培训和检查范围"],
        f"{L}第四十九条",
    ),
    (
        "FW-08",
        "从业人员的权利和义务同等适用",
        ["dispatched"],
        "被派遣劳动者享有《中华人民共和国安全生产法》规定的从业人员的权利，并应当履行从业人员的义务。",
        [
            "告知其有权了解危险因素、拒绝违章指挥和强令冒险作业、紧急情况下停止作业撤离",
            "同等纳入工伤保险和安全生产责任保险保障范围",
        ],
        f"{L}第六十一条",
    ),
    (
        "FW-09",
        "关注身体和心理状况",
        ["dispatched", "flexible", "intern"],
        "关注从业人员的身体、心理状况和行为习惯，加强对从业人员的心理疏导、精神慰藉，严格落实岗位安全生产责任，防范从业人员行为异常导致事故发生。",
        ["合理安排劳动强度和休息，防止疲劳作业", "对新入职和短期用工人员加强现场带教"],
        f"{L}第四十四条第二款",
    ),
]

# (code, year, sector, title, content, legal_basis, violation_codes)
KEY_ITEMS = [
    (
        "KE-2026-01",
        2026,
        None,
        "全员安全生产责任制和主要负责人履职",
        "检查全员安全生产责任制建立、考核情况，主要负责人组织制定培训计划、双重预防机制、应急预案等法定职责落实情况。",
        f"{L}第四条、第二十一条、第二十二条",
        ["CV-001", "CV-002", "CV-003", "CV-004", "CV-005", "CV-006"],
    ),
    (
        "KE-2026-02",
        2026,
        None,
        "安全生产教育培训和特种作业人员持证上岗",
        "检查从业人员、被派遣劳动者、实习学生的安全培训和档案记录，特种作业人员持证情况。",
        f"{L}第二十八条、第三十条",
        ["CV-015", "CV-016", "CV-017", "CV-018", "CV-020"],
    ),
    (
        "KE-2026-03",
        2026,
        None,
        "风险分级管控和事故隐患排查治理",
        "检查安全风险分级管控制度、隐患排查治理制度的建立和落实，重大事故隐患报告和治理情况。",
        f"{L}第四十一条",
        ["CV-055", "CV-056", "CV-057", "CV-058", "CV-060", "CV-061"],
    ),
    (
        "KE-2026-04",
        2026,
        None,
        "动火、受限空间等危险作业现场安全管理",
        "检查危险作业审批、现场专人安全管理和作业安全措施落实情况。",
        f"{L}第四十三条；{GB}",
        ["CV-045", "CV-046", "CV-047", "CV-050", "CV-051", "CV-106", "CV-107"],
    ),
    (
        "KE-2026-05",
        2026,
        "hazardous_chemicals",
        "危险化学品重大危险源和储存安全",
        "检查重大危险源登记建档、监测监控、包保责任落实，危险化学品专用仓库和储存管理。",
        f"{L}第四十条；《危险化学品安全管理条例》",
        ["CV-064", "CV-065", "CV-069", "CV-070", "CV-074", "CV-075", "CV-077"],
    ),
    (
        "KE-2026-06",
        2026,
        "metallurgy",
        "冶金企业熔融金属作业安全",
        "检查人员聚集场所设置、冶金起重机和熔融金属作业区域防水措施。",
        "《工贸企业重大事故隐患判定标准》",
        ["CV-119", "CV-120", "CV-121"],
    ),
    (
        "KE-2026-07",
        2026,
        None,
        "粉尘涉爆企业除尘系统和积尘清理",
        "检查粉尘爆炸风险辨识、除尘系统控爆措施、清扫制度落实和专项培训。",
        "《工贸企业粉尘防爆安全规定》",
        ["CV-111", "CV-112", "CV-113", "CV-115", "CV-118"],
    ),
    (
        "KE-2026-08",
        2026,
        None,
        "应急预案和应急演练",
        "检查生产安全事故应急救援预案的制定、备案、演练和应急物资配备情况。",
        f"{L}第八十一条、第八十二条；《生产安全事故应急条例》",
        ["CV-084", "CV-085", "CV-086", "CV-089"],
    ),
    (
        "KE-2026-09",
        2026,
        None,
        "高危行业安全生产责任保险投保",
        "检查高危行业、领域生产经营单位安全生产责任保险投保和续保情况。",
        f"{L}第五十一条",
        ["CV-028", "CV-029"],
    ),
    (
        "KE-2026-10",
        2026,
        None,
        "承包发包和交叉作业安全管理",
        "检查发包出租对象资质、安全生产管理协议签订和统一协调管理情况。",
        f"{L}第四十八条、第四十九条",
        ["CV-092", "CV-093", "CV-094", "CV-096"],
    ),
]


def upgrade() -> None:
    op.create_table(
        "violation_items",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("is_management", sa.Boolean(), nullable=False),
        sa.Column("legal_basis", sa.String(length=1000), nullable=False),
        sa.Column("penalty_basis", sa.String(length=1000), nullable=False),
        sa.Column(
            "sectors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "hazardous_work_guides",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("definition", sa.String(length=1000), nullable=False),
        sa.Column("permit", sa.String(length=1000), nullable=False),
        sa.Column(
            "key_controls",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("legal_basis", sa.String(length=1000), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "worker_guides",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column(
            "worker_kinds",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("duty", sa.String(length=1000), nullable=False),
        sa.Column(
            "measures",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("legal_basis", sa.String(length=1000), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "key_enforcement_items",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sector", sa.String(length=32), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.String(length=2000), nullable=False),
        sa.Column("legal_basis", sa.String(length=1000), nullable=False),
        sa.Column(
            "violation_codes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    with op.batch_alter_table("key_enforcement_items", schema=None) as batch_op:
        batch_op.create_index("ix_key_enforcement_items_year", ["year", "sort_order"], unique=False)
    op.create_table(
        "registry_licences",
        sa.Column("licence_number", sa.String(length=32), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=True),
        sa.Column("item_name", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("licence_number"),
    )
    with op.batch_alter_table("registry_licences", schema=None) as batch_op:
        batch_op.create_index("ix_registry_licences_uscc", ["uscc"], unique=False)
    op.create_table(
        "outreach_groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("organiser_kind", sa.String(length=32), nullable=False),
        sa.Column("organiser", sa.String(length=200), nullable=False),
        sa.Column(
            "sectors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "outreach_themes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.SmallInteger(), nullable=False),
        sa.Column("theme", sa.String(length=200), nullable=False),
        sa.Column("content", sa.String(length=4000), nullable=False),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("year", "month", name="uq_outreach_themes_month"),
    )
    op.create_table(
        "outreach_members",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("is_lead", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["outreach_groups.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outreach_members", schema=None) as batch_op:
        batch_op.create_index("ix_outreach_members_group", ["group_id"], unique=False)
    op.create_table(
        "outreach_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("theme_id", sa.String(length=36), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("sector", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=True),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("key_project", sa.String(length=200), nullable=True),
        sa.Column("project_stage", sa.String(length=32), nullable=True),
        sa.Column("total_attendees", sa.Integer(), nullable=True),
        sa.Column("questions_answered", sa.Integer(), nullable=True),
        sa.Column("attendance_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["outreach_groups.id"],
        ),
        sa.ForeignKeyConstraint(
            ["theme_id"],
            ["outreach_themes.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outreach_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_outreach_sessions_held_on", ["held_on", "id"], unique=False)
    op.create_table(
        "outreach_attendances",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("enterprise_name", sa.String(length=200), nullable=False),
        sa.Column("attendees", sa.Integer(), nullable=False),
        sa.Column("contact_name", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["outreach_sessions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "uscc", name="uq_outreach_attendances_session_uscc"),
    )
    with op.batch_alter_table("outreach_attendances", schema=None) as batch_op:
        batch_op.create_index("ix_outreach_attendances_uscc", ["uscc"], unique=False)

    violation_items = sa.table(
        "violation_items",
        sa.column("code", sa.String),
        sa.column("category", sa.String),
        sa.column("title", sa.String),
        sa.column("is_management", sa.Boolean),
        sa.column("legal_basis", sa.String),
        sa.column("penalty_basis", sa.String),
        sa.column("sectors", sa.JSON),
        sa.column("sort_order", sa.Integer),
    )
    op.bulk_insert(
        violation_items,
        [
            {
                "code": f"CV-{n:03d}",
                "category": category,
                "title": title,
                "is_management": is_management,
                "legal_basis": legal,
                "penalty_basis": penalty,
                "sectors": sectors,
                "sort_order": n,
            }
            for n, (category, title, is_management, legal, penalty, sectors) in enumerate(
                VIOLATIONS, start=1
            )
        ],
    )
    hazardous_work_guides = sa.table(
        "hazardous_work_guides",
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("definition", sa.String),
        sa.column("permit", sa.String),
        sa.column("key_controls", sa.JSON),
        sa.column("legal_basis", sa.String),
        sa.column("sort_order", sa.Integer),
    )
    op.bulk_insert(
        hazardous_work_guides,
        [
            {
                "code": code,
                "name": name,
                "definition": definition,
                "permit": permit,
                "key_controls": controls,
                "legal_basis": legal,
                "sort_order": n,
            }
            for n, (code, name, definition, permit, controls, legal) in enumerate(
                HAZARDOUS_WORK, start=1
            )
        ],
    )
    worker_guides = sa.table(
        "worker_guides",
        sa.column("code", sa.String),
        sa.column("title", sa.String),
        sa.column("worker_kinds", sa.JSON),
        sa.column("duty", sa.String),
        sa.column("measures", sa.JSON),
        sa.column("legal_basis", sa.String),
        sa.column("sort_order", sa.Integer),
    )
    op.bulk_insert(
        worker_guides,
        [
            {
                "code": code,
                "title": title,
                "worker_kinds": kinds,
                "duty": duty,
                "measures": measures,
                "legal_basis": legal,
                "sort_order": n,
            }
            for n, (code, title, kinds, duty, measures, legal) in enumerate(WORKER_GUIDES, start=1)
        ],
    )
    key_enforcement_items = sa.table(
        "key_enforcement_items",
        sa.column("code", sa.String),
        sa.column("year", sa.Integer),
        sa.column("sector", sa.String),
        sa.column("title", sa.String),
        sa.column("content", sa.String),
        sa.column("legal_basis", sa.String),
        sa.column("violation_codes", sa.JSON),
        sa.column("sort_order", sa.Integer),
    )
    op.bulk_insert(
        key_enforcement_items,
        [
            {
                "code": code,
                "year": year,
                "sector": sector,
                "title": title,
                "content": content,
                "legal_basis": legal,
                "violation_codes": codes,
                "sort_order": n,
            }
            for n, (code, year, sector, title, content, legal, codes) in enumerate(
                KEY_ITEMS, start=1
            )
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("outreach_attendances", schema=None) as batch_op:
        batch_op.drop_index("ix_outreach_attendances_uscc")
    op.drop_table("outreach_attendances")
    with op.batch_alter_table("outreach_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_outreach_sessions_held_on")
    op.drop_table("outreach_sessions")
    with op.batch_alter_table("outreach_members", schema=None) as batch_op:
        batch_op.drop_index("ix_outreach_members_group")
    op.drop_table("outreach_members")
    op.drop_table("outreach_themes")
    op.drop_table("outreach_groups")
    with op.batch_alter_table("registry_licences", schema=None) as batch_op:
        batch_op.drop_index("ix_registry_licences_uscc")
    op.drop_table("registry_licences")
    with op.batch_alter_table("key_enforcement_items", schema=None) as batch_op:
        batch_op.drop_index("ix_key_enforcement_items_year")
    op.drop_table("key_enforcement_items")
    op.drop_table("worker_guides")
    op.drop_table("hazardous_work_guides")
    op.drop_table("violation_items")
