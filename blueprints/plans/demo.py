"""Demo rectification: the county's campaign in its rectify stage, and school plans in
every state; the first school's plan mirrors the report (12 problems in the ten areas,
"12 项：基本完成 8 项，正在推进 4 项")."""

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


def load(bureau: Organisation, schools: list[Organisation], users: dict[str, User]) -> None:
    """Create the campaign and a plan in each school: approved, awaiting review, returned,
    draft, in turn; the first school's mirrors the report."""
    if not schools:
        return  # a city bureau's schools are its counties' to evaluate
    campaign = _campaign(bureau, users)
    db.session.flush()
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
