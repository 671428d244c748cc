"""Demo data: realistic opinions in every state and channel for the demo county's schools."""

from __future__ import annotations

import hashlib
import struct
import zlib
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from kaimen import db, local_date, utcnow

from . import deadlines
from .models import (
    AnswerTemplate,
    Attachment,
    Complaint,
    ComplaintEvent,
    ComplaintSettings,
    Holiday,
    with_leadership,
)

# (channel, kind, category, days ago, final state, subject, description)
CASES = [
    ("online", "complaint", "arbitrary_fees", 40, "closed", "班级收取资料费未开收据",
     "三年级二班开学时要求每位学生交200元资料费，没有开收据，也没有说明用途。"),
    ("paper_box", "complaint", "teaching", 20, "answered", "作业量过大，孩子每晚写到十点",
     "五年级各科作业加起来每天要做三个多小时，孩子睡眠严重不足，希望学校统筹作业量。"),
    ("hotline", "complaint", "paid_tutoring", 30, "urged", "数学老师周末在家有偿补课",
     "有家长反映五年级数学老师周末在自家开班补课，每人每月收费600元，并暗示不参加会影响成绩。"),
    ("letter", "suggestion", "facilities", 6, "accepted", "建议在校门口增设遮雨棚",
     "下雨天接送孩子时家长都站在雨中，建议在校门口增设遮雨棚，方便接送。"),
    ("online", "complaint", "safety", 8, "received", "放学时校门口车辆拥堵存在安全隐患",
     "每天下午放学时校门口私家车乱停乱放，孩子过马路很危险，希望学校协调交警疏导。"),
    ("sms", "complaint", "materials", 12, "verifying", "老师推荐购买指定教辅资料",
     "英语老师在家长群要求统一购买某出版社的练习册，每本45元。"),
    ("visit", "complaint", "logistics", 10, "not_accepted", "小区门口道路破损",
     "学校附近小区门口的道路破损多年，希望学校反映修补。"),
    ("forum", "praise", "moral", 15, "answered", "感谢班主任耐心细致的家访",
     "孩子转学后情绪低落，班主任多次家访并与孩子谈心，孩子现在很开朗，特此表扬。"),
    ("reception_day", "complaint", "fees", 35, "reopened", "食堂伙食费上涨未公示",
     "本学期食堂伙食费每天上涨两元，学校没有任何公示，也没有征求家长意见。"),
    ("home_visit", "suggestion", "ethics", 1, "received", "希望老师少在家长群发成绩排名",
     "家访时家长提出，老师在家长群公布考试排名让孩子压力很大，希望改为私下沟通。"),
]

ANSWERS = {
    "arbitrary_fees": "您好！经学校核查，您反映的情况属实。学校已责令该班主任将资料费全额退还"
                      "给学生家长，并对其进行了批评教育。感谢您对学校工作的监督。",
    "teaching": "您好！学校已召开教学工作会议，要求各年级建立作业公示和总量控制制度，"
                "五年级书面作业每天不超过60分钟。欢迎您继续监督。",
    "moral": "您好！感谢您对我校教师工作的肯定，我们已将您的表扬转达给班主任，"
             "并在全校教师会上予以通报表扬。",
    "fees": "您好！经核查，伙食费调整系食材价格上涨所致，但学校未按规定提前公示，"
            "做法不妥。学校已补充公示成本核算，并向家长作出说明。",
}

DEFAULT_ANSWER = "您好！您的意见已收悉，学校已认真研究并改进，感谢您的支持。"

FINDINGS = {
    "arbitrary_fees": ("substantiated",
                       "该班主任以购买资料为由向全班收取每人200元，未经审批，未开票据。",
                       "责令全额退还所收费用，已于本周退还完毕。",
                       "对该班主任进行诫勉谈话，取消本年度评优资格。"),
    "fees": ("partly", "伙食费上涨属实，系食材成本上涨，但未按规定公示。",
             "补充公示成本核算明细，召开家长代表座谈会说明情况。", "对总务处负责人进行批评教育。"),
}

TEMPLATES = [
    ("受理告知", "您好！您反映的问题学校已收悉并登记受理，我们将在规定时限内调查核实，"
                 "处理结果将通过回执码告知您。感谢您对学校工作的关心和监督。"),
    ("核实属实，已整改", "您好！经学校调查核实，您反映的情况基本属实。学校已责成相关部门"
                         "立即整改，并对有关责任人进行了批评教育。欢迎您继续监督，"
                         "如仍有问题，可凭回执码补充反映。"),
    ("不属于学校职责范围", "您好！经了解，您反映的事项不属于学校的管理职责范围。"
                           "建议您向有关主管部门反映，感谢您的理解与支持。"),
]

# Statutory holidays on fixed dates: (month, day, name).
HOLIDAYS = [(1, 1, "元旦"), (5, 1, "劳动节"), (5, 2, "劳动节"),
            (10, 1, "国庆节"), (10, 2, "国庆节"), (10, 3, "国庆节")]

# The demo pledges promise an answer in three working days (家长反映问题限时答复).
DEMO_ACKNOWLEDGE, DEMO_ANSWER = 1, 3

PHOTO_NAME = "校门口车辆拥堵.png"

LEADERSHIP = ("online", "complaint", "office", 9, "received", "反映校长违规报销接待费用",
              "有教师反映校长多次以学校名义报销私人宴请费用，请教育局调查。")


def _staff(users: dict[str, Any], school: Any) -> tuple[Any, Any]:
    """Return the school's admin and a teacher (either may be None) from the users' grants."""
    admin = teacher = None
    for user in users.values():
        for grant in user.grants:
            if grant.org_id == school.id and grant.role == "school_admin" and admin is None:
                admin = user
            if grant.org_id == school.id and grant.role == "teacher" and teacher is None:
                teacher = user
    return admin, teacher or admin


def _supervisor(users: dict[str, Any], bureau: Any) -> Any:
    reach = {bureau.id} | {b.id for b in bureau.ancestors()}
    for user in users.values():
        if any(g.org_id in reach and g.role == "supervisor" for g in user.grants):
            return user
    return None


def _event(case: Complaint, action: str, when: Any, actor: Any = None, body: str = "",
           public: bool = True, due: Any = None) -> None:
    case.events.append(ComplaintEvent(
        school_id=case.school_id, action=action, status=case.status, body=body, public=public,
        actor_id=getattr(actor, "id", None), created_at=when, due=due))


def _case(school: Any, spec: tuple, leadership: bool = False) -> Complaint:
    channel, kind, category, days_ago, _state, subject, description = spec
    bureau = school.bureau()
    received_on = local_date(bureau) - timedelta(days=days_ago)
    ack_due, answer_due = deadlines.due_dates(bureau, received_on)
    when = utcnow() - timedelta(days=days_ago, hours=3)
    named = channel in ("hotline", "reception_day")
    case = Complaint(
        school_id=school.id, school=school, kind=kind, category=category, channel=channel,
        subject=subject,
        description=description, anonymous=not named, about_leadership=leadership,
        contact_name="刘女士" if named else None, contact_phone="13900000000" if named else None,
        status="received", received_on=received_on, ack_due=ack_due, answer_due=answer_due,
        created_at=when, content_digest="",
    )
    _event(case, "submitted" if channel == "online" else "entered", when)
    return case


def _progress(case: Complaint, state: str, owner: Any, supervisor: Any) -> None:
    start = case.created_at
    if state in ("received",) or owner is None:
        return
    if state == "not_accepted":
        case.status, case.acknowledged_at = "not_accepted", start + timedelta(days=1)
        case.rejection_reason = "out_of_scope: 该道路不属于学校管理范围，已建议向镇政府反映。"
        _event(case, "not_accepted", case.acknowledged_at, owner, "该道路不属于学校管理范围，"
               "建议您拨打镇政府便民热线反映。")
        return
    case.status, case.owner_id = "accepted", owner.id
    case.acknowledged_at = start + timedelta(hours=20)
    _event(case, "accepted", case.acknowledged_at, owner, "您的意见已受理，我们将尽快核实处理。")
    if state == "accepted":
        return
    case.status = "verifying"
    _event(case, "verifying", start + timedelta(days=1), owner)
    if state == "verifying":
        return
    if state == "urged":
        case.status = "handling"
        _event(case, "handling", start + timedelta(days=2), owner)
        case.urged_count = 1
        urged_at = start + timedelta(days=25)
        # The new deadline counts from the day of urging: three working days after it.
        case.answer_due = deadlines.extend(case.school.bureau(),
                                           case.received_on + timedelta(days=25), 3)
        _event(case, "urged", urged_at, supervisor,
               "该问题群众反映强烈，请于三个工作日内查清事实并答复举报人。", public=False,
               due=case.answer_due)
        return
    finding = FINDINGS.get(case.category, ("unsubstantiated", "经核实，情况与反映基本一致。",
                                           "已向家长说明情况并改进工作。", ""))
    case.finding, case.verified_facts, case.action_taken, case.correction = finding
    case.correction = case.correction or None
    case.status = "handling"
    # Answered on its due day, as the school's pledge promises; the steps come before it.
    days = max((case.answer_due - case.received_on).days, 3)
    _event(case, "handling", start + timedelta(days=2), owner)
    _event(case, "findings", start + timedelta(days=2, hours=4), owner, finding[0],
           public=False)
    case.answer = ANSWERS.get(case.category, DEFAULT_ANSWER)
    case.answered_at = start + timedelta(days=days)
    answered_on = case.received_on + timedelta(days=days)
    case.answered_on_time, case.days_to_answer = answered_on <= case.answer_due, days
    case.status = "answered"
    _event(case, "answered", case.answered_at, owner, case.answer)
    if state == "closed":
        case.satisfied, case.status = True, "closed"
        case.closed_at = case.answered_at + timedelta(days=2)
        _event(case, "satisfied", case.answered_at + timedelta(days=1),
               body="问题已解决，谢谢学校。")
        _event(case, "closed", case.closed_at, owner)
    elif state == "reopened":
        case.satisfied, case.flagged_for_bureau, case.status = False, True, "handling"
        _event(case, "dissatisfied", case.answered_at + timedelta(days=3),
               body="只是补了公示，伙食费没有降。")


def load(bureau: Any, schools: list[Any], users: dict[str, Any]) -> None:
    """Give each school without opinions a realistic set; the first also a leadership report.

    The bureau gets this year's holidays, and each school answer templates and a photo
    attached to a case; each of these is skipped where it already exists.
    """
    load_holidays(bureau)
    load_time_limits(bureau)
    supervisor = _supervisor(users, bureau)
    for index, school in enumerate(schools):
        load_templates(school)
        exists = db.session.scalar(with_leadership(
            sa.select(Complaint.id).where(Complaint.school_id == school.id).limit(1)))
        if exists is not None:
            continue
        admin, teacher = _staff(users, school)
        for spec in CASES:
            case = _case(school, spec)
            _progress(case, spec[4], teacher if spec[2] != "fees" else admin, supervisor)
            if index == 0 and case.category == "arbitrary_fees":
                case.reward_status, case.reward_amount = "paid", "300元"
                case.reward_paid_on = case.received_on + timedelta(days=14)
            db.session.add(case)
        if index == 0:
            db.session.add(_case(school, LEADERSHIP, leadership=True))
    for school in schools:
        load_photo(school)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def demo_photo(width: int = 64, height: int = 40) -> bytes:
    """Return a small valid PNG: a grey road under a blue sky, with a yellow line."""
    rows = []
    for y in range(height):
        if y < height // 3:
            pixel = bytes((135, 190, 235))
        elif y == height * 2 // 3:
            pixel = bytes((240, 200, 40))
        else:
            pixel = bytes((110, 110, 115))
        rows.append(b"\x00" + pixel * width)  # filter type 0 (none) for each row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + _png_chunk(b"IEND", b""))


def load_holidays(bureau: Any) -> None:
    """Add this year's fixed-date statutory holidays the bureau does not list yet."""
    year = local_date(bureau).year
    listed = set(db.session.scalars(sa.select(Holiday.day).where(Holiday.bureau_id == bureau.id)))
    for month, day, name in HOLIDAYS:
        if date(year, month, day) not in listed:
            db.session.add(Holiday(bureau_id=bureau.id, day=date(year, month, day), name=name))


def load_time_limits(bureau: Any) -> None:
    """Give a bureau without time limits those its schools' pledges promise (答复 in 3 days)."""
    exists = db.session.scalar(
        sa.select(ComplaintSettings.id).where(ComplaintSettings.bureau_id == bureau.id))
    if exists is None:
        db.session.add(ComplaintSettings(bureau_id=bureau.id, acknowledge_days=DEMO_ACKNOWLEDGE,
                                         answer_days=DEMO_ANSWER))
        db.session.flush()


def load_templates(school: Any) -> None:
    """Give a school without answer templates the usual ones."""
    exists = db.session.scalar(
        sa.select(AnswerTemplate.id).where(AnswerTemplate.school_id == school.id).limit(1))
    if exists is None:
        for title, body in TEMPLATES:
            db.session.add(AnswerTemplate(school_id=school.id, title=title, body=body))


def load_photo(school: Any) -> None:
    """Attach a photo to the school's report about traffic at the gate, if it has no file."""
    exists = db.session.scalar(
        sa.select(Attachment.id).where(Attachment.school_id == school.id).limit(1))
    if exists is not None:
        return
    case = db.session.scalar(
        sa.select(Complaint).where(Complaint.school_id == school.id)
        .order_by((Complaint.category == "safety").desc(), Complaint.id).limit(1))
    if case is None:
        return
    content = demo_photo()
    case.attachments.append(Attachment(
        school_id=school.id, filename=PHOTO_NAME, content_type="image/png", size=len(content),
        sha256=hashlib.sha256(content).hexdigest(), content=content, created_at=case.created_at))
