"""``flask kaimen homevisits import-roster``: load a school's roster from a file, with progress."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa

from kaimen import Organisation, db, transactional
from kaimen.classes import current_year

from . import roster


def register(group: click.Group) -> None:
    """Add the ``homevisits`` commands to ``flask kaimen``."""

    @group.group("homevisits")
    def homevisits() -> None:
        """Home-visit book: rosters of students and guardians."""

    @homevisits.command("import-roster")
    @click.argument("school_slug")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @transactional
    def import_roster(school_slug: str, path: Path) -> None:
        """Import a school's roster (xlsx or CSV): all of it, or nothing with a report."""
        school = db.session.scalar(sa.select(Organisation).where(
            Organisation.slug == school_slug))
        if school is None or not school.is_school:
            raise click.ClickException(f"no school {school_slug!r}")
        content = path.read_bytes()
        with click.progressbar(length=max(1, content.count(b"\n")), label=school_slug) as bar:
            report = roster.import_roster(school, current_year(school), path.name, content,
                                          progress=bar.update)
        if not report.ok:
            for problem in report.problems:
                where = f"row {problem.row}" if problem.row else "file"
                click.echo(f"{where} {problem.column}: {problem.message}", err=True)
            raise click.ClickException(f"{len(report.problems)} problems: nothing imported")
        click.echo(f"{school_slug}: {report.created} new, {report.updated} changed, "
                   f"{report.unchanged} unchanged")
