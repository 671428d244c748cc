"""Demo rectification: the county's campaign in its rectify stage; the bureau's own plan
mirrors the report (12 problems in the ten areas, approved, "12 项：基本完成 8 项，正在推进
4 项"); school plans in every state, the first school's approved with 12 items too."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from kaimen import Organisation, User, db, holders, local_date
from kaimen.uploads import Upload

from . import ledger, services
from .models import BASICALLY_DONE, DONE, IN_PROGRESS, Campaign, Plan

# (area, problem, measure, target, person, unit)
PROBLEMS = [
    ("conduct", "个别班级存在按成绩排座位、变相分快慢班现象", "严格执行均衡编班，公示分班结果",
     "杜绝快慢班", "校长", "教务处"),
    ("teaching", "部分教师作业布置量大，学生课业负担重", "建立作业公示和总量控制制度",
     "每日书面作业不超过规定时长", "分管教学副校长", "教务处"),
    ("moral", "德育活动形式单一，家校沟通不够", "每学期召开家长会两次，办好家长学校",
     "家长满意度达到90%以上", "德育副校长", "政教处"),
    ("fees", "个别班级代收资料费未公示", "收费项目、标准和依据全部在公示栏和网页公开",
     "无违规收费", "校长", "总务处"),
    ("teachers", "教师考勤和请假制度执行不严", "完善考勤制度，每月公布考勤结果",
     "考勤公开透明", "工会主席", "校长办公室"),
    ("ethics", "有家长反映个别教师有偿补课", "开展师德师风专项整治，签订不有偿补课承诺书",
     "有偿补课零发生", "校长", "校长办公室"),
    ("logistics", "食堂饭菜质量和价格有意见", "成立膳食委员会，家长代表参与食堂监督",
     "每月公示食堂收支", "总务主任", "总务处"),
    ("facilities", "厕所和饮水设施不足", "新建厕所一座，增设饮水机", "满足学生需要",
     "总务主任", "总务处"),
    ("safety", "上下学时段校门口交通拥堵", "联系交警设置护学岗，错峰放学", "校门口秩序良好",
     "安全副校长", "安全办"),
    ("office", "办事效率不高，群众来访答复不及时", "实行首问负责、限时办结", "一般事项三日内答复",
     "校长", "校长办公室"),
    ("teaching", "课外辅导资料征订不规范", "严格执行一科一辅、自愿选用", "无强制征订",
     "分管教学副校长", "教务处"),
    ("safety", "校舍安全隐患排查不及时", "每月开展一次校舍安全排查并建立台账", "隐患及时整改",
     "安全副校长", "安全办"),
]
# The bureau's own plan, after the report: (area, problem, measure, target, person, unit).
BUREAU_PROBLEMS = [
    ("conduct", "义务教育阶段招生、编班不够规范，择校现象仍有发生",
     "严格执行划片就近入学和均衡编班，招生结果向社会公示", "招生公开、公平、公正",
     "分管副局长", "基础教育股"),
    ("teaching", "部分学校课程开设不全，学生课业负担偏重",
     "开展课程计划执行情况专项督查，建立作业总量控制制度", "开齐课程、开足课时",
     "分管副局长", "教研室"),
    ("moral", "学校与家庭、社会沟通不够，家长对学校工作了解不多",
     "全县开展“开门办教育”活动，办好家长学校和学校开放日", "每校每学期至少举办一次开放日",
     "分管副局长", "基础教育股"),
    ("fees", "在职教师乱补课乱收费、推销教辅资料问题时有发生",
     "实行校长问责和有奖举报，查实的教师从重处分并调离岗位", "“三乱”问题得到有效遏制",
     "纪检组长", "计划财务股"),
    ("teachers", "农村学校师资不足，城乡教师交流不够",
     "补充农村学校教师，推进城乡教师交流", "农村学校学科教师配齐",
     "分管副局长", "人事股"),
    ("ethics", "个别教师上课打手机、饮酒上课，师德意识淡薄",
     "开展师德师风专项教育，组织教师师德承诺和宣誓", "师德违规行为零发生",
     "纪检组长", "人事股"),
    ("logistics", "部分寄宿制学校食堂、宿舍管理不规范",
     "修订《食堂管理制度》，推行大宗物资统一采购", "食堂收支每月公示",
     "分管副局长", "计划财务股"),
    ("facilities", "部分农村学校办学条件较差，校舍陈旧",
     "实施校舍改造和学校规范化建设", "完成年度校舍改造计划",
     "分管副局长", "计划财务股"),
    ("safety", "校车和学校周边交通安全隐患较多",
     "会同交警、运管开展校车和校园周边安全专项整治", "校车全部达标，周边秩序良好",
     "分管副局长", "安全稳定股"),
    ("office", "机关办事效率不高，服务意识不强",
     "实行首问负责、一次性告知、限时办结制度", "一般事项三个工作日内办结",
     "局长", "办公室"),
    ("office", "机关管理制度不够健全，执行不严",
     "建立上下班、请销假、岗位责任等十项制度，修订机关财务管理制度", "制度上墙、严格考核",
     "局长", "办公室"),
    ("fees", "教育收费公示不够到位，群众对收费政策不了解",
     "全面推行收费公示制，公开收费项目、标准和依据", "无违规收费",
     "分管副局长", "计划财务股"),
]
# The report's ledger: of the 12 items, 8 basically done and 4 still in progress.
BUREAU_IN_PROGRESS = {3, 4, 7, 8}

EVIDENCE = Upload("整改照片.pdf", "application/pdf", b"%PDF-1.4\n% demo evidence\n%%EOF\n")


def _one(permission: str, org: Organisation, users: dict[str, User], reach: str) -> User | None:
    people = [u for u in holders(permission, org, reach=reach) if u.username in users]
    return people[0] if people else None


def _campaign(bureau: Organisation, users: dict[str, User]) -> Campaign:
    existing = db.session.scalar(sa.select(Campaign).where(Campaign.bureau_id == bureau.id))
    if existing is not None:
        return existing
    today = local_date(bureau)
    start = today - timedelta(days=75)
    return services.open_campaign(
        bureau, f"{start.year}年度民主评议政风行风", start,
        {"mobilise": start + timedelta(days=14), "inspect": start + timedelta(days=50),
         "rectify": start + timedelta(days=170), "review": start + timedelta(days=220)},
        _one("plans.campaigns", bureau, users, "own"))


def _draft(plan: Plan, count: int, admin: User | None, cases: list[int]) -> None:
    deadline = plan.campaign.rectify_until
    for index, (area, problem, action, target, person, unit) in enumerate(PROBLEMS[:count]):
        added = services.add_problem(plan, admin, category=area, description=problem,
                                     cases=cases[index:index + 1] if index < 2 else [],
                                     other_opinions="家长座谈会意见" if index % 3 == 0 else "")
        services.add_measure(added, admin, action=action, target=target,
                             responsible_person=person, responsible_unit=unit,
                             deadline=deadline - timedelta(days=10 * (index % 4)))


def _school(plan: Plan, state: int, users: dict[str, User]) -> None:
    school = plan.school
    admin = _one("plans.manage", school, users, "own")
    supervisor = _one("plans.review", school, users, "above")
    cases = [case_id for case_id, _subject in services.case_choices(school)][:2]
    _draft(plan, 12 if state == 0 else 4, admin, cases)
    db.session.flush()
    if state == 3:
        return  # a draft
    services.submit(plan, admin)
    if state == 1:
        return  # awaiting review
    first = plan.measures[0]
    services.return_plan(plan, "整改措施不够具体，请细化目标和完成时限。",
                         {first.id: "请写明具体目标。"}, supervisor)
    if state == 2:
        return  # returned
    services.edit_measure(first, admin, action=first.action, target=first.target + "，每学期检查",
                          responsible_person=first.responsible_person,
                          responsible_unit=first.responsible_unit, deadline=first.deadline)
    services.submit(plan, admin)
    services.approve(plan, "同意。", supervisor)
    for index, measure in enumerate(plan.measures):
        status = BASICALLY_DONE if index < 8 else IN_PROGRESS
        if state == 4 and index == 0:
            status = DONE
        ledger.report_progress(measure, status, "已按方案推进，情况见附件。",
                               [EVIDENCE] if index < 2 else [], admin)
    db.session.flush()
    if state == 4 and supervisor is not None and not ledger.sign_off_refusals(plan.measures[0]):
        ledger.sign_off(plan.measures[0], "经核查已完成整改。", supervisor)


def _bureau(plan: Plan, users: dict[str, User]) -> None:
    """Draft, submit and approve the bureau's own plan; 8 items basically done, 4 in progress."""
    bureau = plan.school
    admin = _one("plans.own", bureau, users, "own")
    supervisor = _one("plans.review", bureau, users, "own")
    deadline = plan.campaign.rectify_until
    opinions = "行风监督员座谈会、征求意见表"
    for index, (area, problem, action, target, person, unit) in enumerate(BUREAU_PROBLEMS):
        added = services.add_problem(plan, admin, category=area, description=problem,
                                     other_opinions=opinions if index < 4 else "")
        services.add_measure(added, admin, action=action, target=target,
                             responsible_person=person, responsible_unit=unit,
                             deadline=deadline - timedelta(days=15 * (index % 3)))
    db.session.flush()
    services.submit(plan, admin)
    services.approve(plan, "经局班子成员、股室和二级单位负责人会议集体审定，同意公示。", supervisor)
    for index, measure in enumerate(plan.measures):
        status = IN_PROGRESS if index in BUREAU_IN_PROGRESS else BASICALLY_DONE
        ledger.report_progress(measure, status, "按整改方案推进，情况见附件。" if index < 2
                               else "按整改方案推进。", [EVIDENCE] if index < 2 else [], admin)
    db.session.flush()


def load(bureau: Organisation, schools: list[Organisation], users: dict[str, User]) -> None:
    """Create the campaign, the bureau's own plan and a plan in each school: approved,
    awaiting review, returned, draft, in turn; the bureau's mirrors the report."""
    if not schools:
        return  # a city bureau's schools are its counties' to evaluate
    campaign = _campaign(bureau, users)
    db.session.flush()
    own = services.own_plan(bureau, campaign)
    if own is None:
        own = services.start_own_plan(campaign, _one("plans.own", bureau, users, "own"))
    if not own.problems:
        _bureau(own, users)
    for index, school in enumerate(schools):
        plan = db.session.scalar(sa.select(Plan).where(
            Plan.school_id == school.id, Plan.campaign_id == campaign.id))
        if plan is None:
            plan = Plan(school_id=school.id, campaign_id=campaign.id)
            db.session.add(plan)
            db.session.flush()
        if plan.problems:
            continue
        _school(plan, 0 if index == 0 else (4 if index % 5 == 4 else index % 4), users)
