"""Working-day schedules for years the installed official calendar does not cover yet.

chinesecalendar ships the State Council's schedule up to the year it was released for; a
deadline that falls later (a pledge verified within months, credit's clock moved ahead) needs
that year loaded, as operators do from files (kernel.workdays.WorkingDayCalendar.from_directory).
These are rehearsal schedules with the fixed-date holidays only, not the State Council's notices.
"""

from __future__ import annotations

import json
from pathlib import Path

REHEARSAL_YEARS = (2027, 2028, 2029)


def rehearsal_calendar_dir(root: Path, years: tuple[int, ...] = REHEARSAL_YEARS) -> Path:
    """A directory of schedule files for `years` under `root`, as CALENDAR_DIR expects."""
    directory = root / "calendar"
    directory.mkdir(parents=True, exist_ok=True)
    for year in years:
        holidays = [f"{year}-01-01"] + [f"{year}-05-0{d}" for d in range(1, 6)]
        holidays += [f"{year}-10-0{d}" for d in range(1, 8)]
        schedule = {
            "year": year,
            "source": "rehearsal schedule (tests)",
            "holidays": holidays,
            "workdays": [],
        }
        (directory / f"{year}.json").write_text(json.dumps(schedule))
    return directory
