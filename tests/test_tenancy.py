"""The tenant scope: applied to every ORM statement, failing closed, crossed only on purpose."""

import pytest
import sqlalchemy as sa
from flask import g
from kaimen_noticeboard import Notice

from kaimen import tenancy
from kaimen.extensions import db


@pytest.fixture
def notices(ctx, county):
    for school in (county.a1, county.a1, county.a2, county.b1):
        db.session.add(Notice(school_id=school.id, title=f"notice of {school.slug}"))
    db.session.commit()
    return county


def titles():
    return sorted(db.session.scalars(sa.select(Notice.title)))


def in_scope(app, *schools):
    """Run in a fresh app context scoped to ``schools``, as a request would be."""
    context = app.app_context()
    context.push()
    tenancy.set_scope(s.id for s in schools)
    return context


def test_select_sees_only_the_scope(app, notices):
    context = in_scope(app, notices.a2)
    try:
        assert titles() == ["notice of a2"]
    finally:
        context.pop()
    context = in_scope(app, notices.a1, notices.b1)
    try:
        # a second scope right after the first: the cached criteria must not stick
        assert titles() == ["notice of a1", "notice of a1", "notice of b1"]
    finally:
        context.pop()


def test_empty_scope_sees_nothing(app, notices):
    with app.app_context(), tenancy.system_scope():
        some_id = db.session.scalar(sa.select(Notice.id).limit(1))
    context = in_scope(app)
    try:
        assert titles() == []
        assert db.session.get(Notice, some_id) is None
    finally:
        context.pop()


def test_no_scope_fails_closed(app, notices):
    with app.app_context():
        g.pop("kaimen_scope", None)
        with pytest.raises(tenancy.ScopeError):
            titles()


def test_untenanted_models_need_no_scope(app, notices):
    from kaimen.orgs import Organisation

    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) >= 6


def test_orm_update_and_delete_stay_in_scope(app, notices):
    context = in_scope(app, notices.a1)
    try:
        db.session.execute(sa.update(Notice).values(title="changed"))
        db.session.execute(sa.delete(Notice).where(Notice.title == "notice of b1"))
        db.session.commit()
    finally:
        context.pop()
    with app.app_context(), tenancy.system_scope():
        assert titles() == ["changed", "changed", "notice of a2", "notice of b1"]


def test_new_rows_are_stamped_with_the_school(app, notices):
    context = in_scope(app, notices.a2)
    try:
        notice = Notice(title="stamped")
        db.session.add(notice)
        db.session.flush()
        assert notice.school_id == notices.a2.id
        db.session.rollback()
    finally:
        context.pop()


def test_bulk_insert_takes_the_school_from_the_scope(app, notices):
    context = in_scope(app, notices.a2)
    try:
        db.session.execute(sa.insert(Notice), [{"title": "bulk"}])
        school_id = db.session.scalar(sa.select(Notice.school_id).where(Notice.title == "bulk"))
        assert school_id == notices.a2.id
        db.session.rollback()
    finally:
        context.pop()


def test_writing_into_another_school_is_refused(app, notices):
    context = in_scope(app, notices.a1)
    try:
        db.session.add(Notice(school_id=notices.b1.id, title="smuggled"))
        with pytest.raises(tenancy.ScopeError):
            db.session.flush()
        db.session.rollback()
    finally:
        context.pop()


def test_stamping_needs_exactly_one_school(app, notices):
    context = in_scope(app, notices.a1, notices.a2)
    try:
        db.session.add(Notice(title="whose?"))
        with pytest.raises(tenancy.ScopeError):
            db.session.flush()
        db.session.rollback()
    finally:
        context.pop()


def test_crossing_the_scope_is_explicit(app, notices):
    context = in_scope(app, notices.a1)
    try:
        everything = db.session.scalars(tenancy.all_schools(sa.select(Notice.title))).all()
        assert len(everything) == 4
    finally:
        context.pop()


def test_other_school_object_answers_404(client, notices):
    with client.application.app_context(), tenancy.system_scope():
        b1_notice = db.session.scalar(sa.select(Notice.id).where(Notice.school_id == notices.b1.id))
    assert client.get(f"/s/b1/noticeboard/{b1_notice}").status_code == 200
    assert client.get(f"/s/a1/noticeboard/{b1_notice}").status_code == 404


def test_counts_and_pages_stay_in_scope(app, notices):
    from kaimen.pagination import paginate

    with app.test_request_context("/?page=1"):
        tenancy.set_scope({notices.a2.id})
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Notice))
        page = paginate(sa.select(Notice).order_by(Notice.id))
        assert count == 1
        assert page.total == 1
        assert [n.title for n in page.items] == ["notice of a2"]
