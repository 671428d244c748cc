"""Demo pledges: a realistic gate board for each school and the bureau's own pledges."""

from __future__ import annotations

import sqlalchemy as sa

from kaimen import Organisation, User, db, holders

from . import services
from .models import ETHICS, SERVICE, BureauPledge, Pledge

SCHOOL_PLEDGES = [
    ("不乱收费", "严格执行国家和省市收费政策，收费项目、标准和依据全部公示；"
     "不在规定之外收取任何费用，不强制或变相强制学生购买商品和服务。", "校长、总务处"),
    ("不违规补课", "不组织、不参与有偿补课；节假日和寒暑假不违规组织学生集体补课，"
     "严格执行课程计划和作息时间。", "分管教学副校长、教务处"),
    ("不推销教辅资料", "不向学生推销或变相推销教辅资料、报刊和其他学习用品，"
     "教辅资料坚持\u201c一科一辅\u201d、学生自愿选用。", "教务处"),
    ("公开办学信息", "在校门口和学校网页公开招生政策、收费项目、作息时间、食堂管理和投诉电话，"
     "信息变动时及时更新。", "校长办公室"),
    ("家长反映问题限时答复", "对家长和群众反映的问题实行首问负责制，一般问题三个工作日内答复，"
     "复杂问题七个工作日内给出办理意见。", "校长办公室"),
]
EDITED_TEXT = ("在校门口公示栏和学校网页公开招生政策、收费项目、作息时间、食堂管理和投诉电话，"
               "信息变动后五个工作日内更新。")
ETHICS_PLEDGE = ("师德承诺书", "我承诺：依法执教、爱岗敬业、关爱学生、严谨治学、为人师表；"
                 "不体罚和变相体罚学生，不从事有偿家教，不向学生推销教辅资料，"
                 "不收受学生及家长的礼品礼金。", "全体教师")
BUREAU_PLEDGES = [
    ("规范办学行为", "全面落实义务教育免试就近入学，严禁举办重点班、实验班，"
     "严肃查处乱收费、乱补课、乱订教辅资料行为。", "局长、基础教育股"),
    ("限时办结群众来信来访", "对群众来信来访实行首问负责、限时办结，"
     "一般事项五个工作日内办结并答复来访人。", "局办公室"),
    ("公开评议结果", "每学期公布行风评议意见的收集、整改和销号情况，接受社会监督。",
     "行评办"),
]


def _first(users: list[User]) -> User | None:
    return users[0] if users else None


def _school_board(school: Organisation, users: dict[str, User], year: str) -> None:
    admin = _first(_demo_holders("pledges.manage", school, users))
    pledges = [services.publish_school_pledge(school, SERVICE, admin, title=title, text=text,
                                              answerable=answerable, school_year=year)
               for title, text, answerable in SCHOOL_PLEDGES]
    db.session.flush()
    disclosure = pledges[3]
    services.edit(disclosure, admin, title=disclosure.title, text=EDITED_TEXT,
                  answerable=disclosure.answerable, school_year=year)
    services.add_update(pledges[0], "本学期收费项目和标准已在校门口公示栏公示，未收到乱收费反映。",
                        admin)
    title, text, answerable = ETHICS_PLEDGE
    ethics = services.publish_school_pledge(school, ETHICS, admin, title=title, text=text,
                                            answerable=answerable, school_year=year)
    db.session.flush()
    for teacher in _demo_holders("pledges.sign", school, users):
        services.sign(ethics, teacher)


def _demo_holders(permission: str, org: Organisation, users: dict[str, User]) -> list[User]:
    """Return the demo users who hold ``permission`` on ``org`` itself."""
    return [user for user in holders(permission, org, reach="own") if user.username in users]


def load(bureau: Organisation, schools: list[Organisation], users: dict[str, User]) -> None:
    """Create demo pledges for schools and a bureau that have none yet."""
    year = services.current_school_year()
    for school in schools:
        if db.session.scalar(sa.select(Pledge.id).where(Pledge.school_id == school.id).limit(1)):
            continue
        _school_board(school, users, year)
    if db.session.scalar(sa.select(BureauPledge.id).where(BureauPledge.bureau_id == bureau.id)
                         .limit(1)) is None:
        admin = _first(_demo_holders("pledges.bureau", bureau, users))
        for title, text, answerable in BUREAU_PLEDGES:
            services.publish_bureau_pledge(bureau, None, admin, title=title, text=text,
                                           answerable=answerable, school_year=year)
