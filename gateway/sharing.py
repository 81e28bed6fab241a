"""Inter-department data sharing, the rules (X-Road style exchange): the data-set catalogue
and the query each data set accepts, when a grant is in force, which grant a read is made
under, and which enterprises a read's answer is about. No I/O here.

A department reads the bureau's data only through a data set of this catalogue, under a grant
(department, data set, purpose, expiry) an administrator made; every read is logged with the
grant's purpose and the enterprises it returned (gateway/sharing_router.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final, Protocol, TypeVar

from gateway.credentials import SUBJECT_PATTERN
from kernel.errors import Forbidden, NotFound, ProblemError, RuleViolated
from kernel.uscc import InvalidUSCC, validate_uscc
from kernel.vocab import Sector
from kernel.workdays import EARLIEST_BUSINESS_DAY, LATEST_BUSINESS_DAY

# A grant is given for at most this long; renewing it is a new decision with its own record.
MAX_GRANT_YEARS: Final = 2

# Department codes as departments' clients carry them in their tokens (e.g. QD-CBIRC).
DEPARTMENT_PATTERN: Final = SUBJECT_PATTERN

# Query parameters the gateway itself reads on a data-set read (never forwarded upstream).
GRANT_PARAMETER: Final = "grant"

# Business dates a query may name: wide enough for every record, far enough from the ends of
# the calendar that a day's first instant in UTC never overflows (the owners refuse the rest).
EARLIEST_DAY: Final = EARLIEST_BUSINESS_DAY
LATEST_DAY: Final = LATEST_BUSINESS_DAY

# Cursors are kernel.pagination's: URL-safe base64 without padding.
_CURSOR: Final = re.compile(r"[A-Za-z0-9_-]+")
_ITEM_CODE: Final = re.compile(r"QD-[A-Z]{2,6}-[0-9]{3,4}")
# Control characters have no place in a search term (and PostgreSQL refuses NUL).
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


# --- errors ----------------------------------------------------------------------------------


class QueryInvalid(ProblemError):
    """A data-set read's query string broke the catalogue's rules (named field by field)."""

    status, code, title = 422, "validation_failed", "Request validation failed"
    title_zh = "请求参数校验失败"


class DatasetNotFound(NotFound):
    code = "dataset_not_found"


class NoGrant(Forbidden):
    code = "no_grant"


class GrantRequired(RuleViolated):
    code = "grant_required"


class ExpiryInvalid(RuleViolated):
    code = "expiry_invalid"


@dataclass(frozen=True)
class ParameterError:
    """One parameter the query got wrong, and how."""

    name: str
    rule: str  # not_allowed | repeated | missing | invalid
    message: str

    def as_problem_item(self) -> dict[str, str]:
        return {"field": self.name[:64], "in": "query", "rule": self.rule, "message": self.message}


def _invalid(errors: Sequence[ParameterError]) -> QueryInvalid:
    return QueryInvalid(
        "invalid parameter(s): " + ", ".join(sorted({_shown(e.name) for e in errors})),
        field=errors[0].name[:64],
        errors=[e.as_problem_item() for e in errors],
    )


def _shown(name: str) -> str:
    """A parameter name safe to quote back (bounded, control characters escaped)."""
    return repr(name[:64])


# --- parameters ------------------------------------------------------------------------------


class ParamKind(StrEnum):
    text = "text"
    uscc = "uscc"
    choice = "choice"
    day = "date"
    integer = "integer"
    cursor = "cursor"
    item_code = "item_code"


@dataclass(frozen=True)
class Param:
    """One query parameter a data set accepts, and what a valid value is."""

    name: str
    kind: ParamKind
    description: str
    choices: tuple[str, ...] = ()
    minimum: int = 1
    maximum: int = 200
    max_length: int = 100
    required: bool = False

    def parse(self, raw: str) -> str:
        """The value to forward, normalised; ValueError with a readable reason otherwise."""
        if self.kind is ParamKind.text:
            value = raw.strip()
            if not 1 <= len(value) <= self.max_length:
                raise ValueError(f"must be 1 to {self.max_length} characters")
            if _CONTROL.search(value):
                raise ValueError("must not contain control characters")
            return value
        if self.kind is ParamKind.uscc:
            try:
                return validate_uscc(raw)
            except InvalidUSCC as exc:
                raise ValueError(f"not a valid USCC: {exc.message}") from exc
        if self.kind is ParamKind.choice:
            if raw not in self.choices:
                raise ValueError(f"must be one of {', '.join(self.choices)}")
            return raw
        if self.kind is ParamKind.day:
            if len(raw) != 10:
                raise ValueError("must be a date, YYYY-MM-DD")
            try:
                day = date.fromisoformat(raw)
            except ValueError as exc:
                raise ValueError("must be a date, YYYY-MM-DD") from exc
            if not EARLIEST_DAY <= day <= LATEST_DAY:
                raise ValueError(f"must be from {EARLIEST_DAY} to {LATEST_DAY}")
            return day.isoformat()
        if self.kind is ParamKind.integer:
            if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
                raise ValueError(f"must be a whole number from {self.minimum} to {self.maximum}")
            number = int(raw)
            if not self.minimum <= number <= self.maximum:
                raise ValueError(f"must be a whole number from {self.minimum} to {self.maximum}")
            return str(number)
        if self.kind is ParamKind.cursor:
            if len(raw) > self.max_length or not _CURSOR.fullmatch(raw):
                raise ValueError("must be the `next_cursor` of a previous page")
            return raw
        if not _ITEM_CODE.fullmatch(raw):
            raise ValueError("must be a catalogue code such as QD-AJ-001")
        return raw

    def describe(self) -> dict[str, Any]:
        """How the catalogue listing shows this parameter."""
        shown: dict[str, Any] = {
            "name": self.name,
            "type": self.kind.value,
            "required": self.required,
            "description": self.description,
        }
        if self.choices:
            shown["values"] = list(self.choices)
        if self.kind is ParamKind.integer:
            shown["minimum"], shown["maximum"] = self.minimum, self.maximum
        if self.kind in (ParamKind.text, ParamKind.cursor):
            shown["max_length"] = self.max_length
        return shown


def _cursor(max_length: int) -> Param:
    return Param(
        "cursor", ParamKind.cursor, "`next_cursor` of the previous page", max_length=max_length
    )


_LIMIT = Param("limit", ParamKind.integer, "Items per page (default 50)", minimum=1, maximum=200)


@dataclass(frozen=True)
class Endpoint:
    """Where a data set (or one of its lists) is read from, and what may be asked of it."""

    path: str
    params: tuple[Param, ...]

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


@dataclass(frozen=True)
class UpstreamQuery:
    """A validated read: the owner's path, the parameters to forward, and what to log."""

    path: str
    params: dict[str, str]
    logged: dict[str, str]


@dataclass(frozen=True)
class DataSet:
    """One data set of the catalogue: whose data, where it is read, what may be asked.

    With a `selector`, the data set is several lists of the same owner, one chosen per read
    (the selector's value names the endpoint); without, `endpoints` has the one key "".
    """

    code: str
    title: str
    description: str
    owner: str  # the upstream service (gateway.config.UPSTREAM_NAMES)
    endpoints: Mapping[str, Endpoint]
    subject_fields: tuple[str, ...]  # where the answer's items name enterprises (dotted paths)
    selector: Param | None = None

    def query(self, pairs: Sequence[tuple[str, str]]) -> UpstreamQuery:
        """The read `pairs` (the query string, the gateway's own parameters removed) asks
        for; QueryInvalid naming every parameter that is unknown, repeated, missing or bad."""
        errors: list[ParameterError] = []
        seen: dict[str, str] = {}
        for name, value in pairs:
            if name in seen:
                errors.append(ParameterError(name, "repeated", f"{_shown(name)} given twice"))
                continue
            seen[name] = value
        endpoint, selected = self._endpoint(seen, errors)
        if endpoint is None:
            # Without a valid list, which other parameters are allowed is not known yet.
            raise _invalid(errors)
        allowed = {p.name for p in endpoint.params}
        params: dict[str, str] = {}
        for name, raw in seen.items():
            if self.selector is not None and name == self.selector.name:
                continue
            spec = endpoint.param(name)
            if spec is None:
                names = ", ".join(sorted(allowed))
                errors.append(
                    ParameterError(
                        name,
                        "not_allowed",
                        f"{_shown(name)} is not a parameter of data set {self.code!r}"
                        + (f" list {selected!r}" if selected else "")
                        + f" (allowed: {names})",
                    )
                )
                continue
            try:
                params[name] = spec.parse(raw)
            except ValueError as exc:
                errors.append(ParameterError(name, "invalid", f"{name}: {exc}"))
        if errors:
            raise _invalid(errors)
        logged = dict(params)
        if self.selector is not None and selected is not None:
            logged = {self.selector.name: selected, **params}
        return UpstreamQuery(endpoint.path, params, logged)

    def _endpoint(
        self, seen: Mapping[str, str], errors: list[ParameterError]
    ) -> tuple[Endpoint | None, str | None]:
        if self.selector is None:
            return self.endpoints[""], None
        name = self.selector.name
        raw = seen.get(name)
        if raw is None:
            errors.append(
                ParameterError(
                    name, "missing", f"{name} is required: one of {', '.join(self.endpoints)}"
                )
            )
            return None, None
        try:
            chosen = self.selector.parse(raw)
        except ValueError as exc:
            errors.append(ParameterError(name, "invalid", f"{name}: {exc}"))
            return None, None
        return self.endpoints[chosen], chosen

    def describe(self) -> dict[str, Any]:
        """How the catalogue listing (GET /api/data) shows this data set."""
        shown: dict[str, Any] = {
            "code": self.code,
            "title": self.title,
            "description": self.description,
            "owner": self.owner,
            "subject_fields": list(self.subject_fields),
        }
        if self.selector is None:
            shown["parameters"] = [p.describe() for p in self.endpoints[""].params]
        else:
            shown["selector"] = self.selector.describe()
            shown["lists"] = {
                key: [p.describe() for p in endpoint.params]
                for key, endpoint in self.endpoints.items()
            }
        return shown


_USCC_FILTER = Param("uscc", ParamKind.uscc, "Only this enterprise's records")
_SEARCH = Param("q", ParamKind.text, "Part of the name, or an exact USCC", max_length=100)

CATALOGUE: Final[Mapping[str, DataSet]] = {
    ds.code: ds
    for ds in (
        DataSet(
            code="licences",
            title="Electronic licences issued (电子证照)",
            description="Licences the bureau issued, newest first, with their current status "
            "and signed credential.",
            owner="permits",
            endpoints={
                "": Endpoint(
                    "/licences",
                    (
                        _USCC_FILTER,
                        Param(
                            "status",
                            ParamKind.choice,
                            "Current status",
                            choices=("active", "suspended", "revoked"),
                        ),
                        Param("item_code", ParamKind.item_code, "Catalogue code, e.g. QD-AJ-001"),
                        Param("issued_from", ParamKind.day, "Issued on or after (Asia/Shanghai)"),
                        Param("issued_to", ParamKind.day, "Issued on or before (Asia/Shanghai)"),
                        _cursor(300),
                        _LIMIT,
                    ),
                )
            },
            subject_fields=("uscc",),
        ),
        DataSet(
            code="credit-lists",
            title="Credit lists: red list, black list, penalties in publicity",
            description="守信红名单, 严重失信主体名单 and administrative penalties in their "
            "publicity period, as published today; `list` chooses which.",
            owner="credit",
            selector=Param(
                "list",
                ParamKind.choice,
                "Which list: red, black or penalties",
                choices=("red", "black", "penalties"),
                required=True,
            ),
            endpoints={
                "red": Endpoint("/redlist", (_SEARCH, _cursor(200), _LIMIT)),
                "black": Endpoint("/blacklist", (_SEARCH, _cursor(200), _LIMIT)),
                "penalties": Endpoint(
                    "/penalties",
                    (
                        _USCC_FILTER,
                        Param("name", ParamKind.text, "Part of the enterprise's name"),
                        _cursor(200),
                        _LIMIT,
                    ),
                ),
            },
            subject_fields=("uscc",),
        ),
        DataSet(
            code="inspection-results",
            title="Inspections and their results",
            description="Law-enforcement inspections, newest first, with their state.",
            owner="inspection",
            endpoints={
                "": Endpoint(
                    "/inspections",
                    (
                        _USCC_FILTER,
                        Param(
                            "state",
                            ParamKind.choice,
                            "The step the case is at",
                            choices=("inspecting", "deliberating", "feedback", "closed"),
                        ),
                        _cursor(200),
                        _LIMIT,
                    ),
                )
            },
            subject_fields=("uscc",),
        ),
        DataSet(
            code="coverage-gaps",
            title="High-risk enterprises without work-safety liability cover (安责险未投保)",
            description="Registry enterprises in a high-risk sector that no active policy covers "
            "today, by USCC, with the policy that last covered each (for the insurance "
            "regulator's supervision of 安责险).",
            owner="insurance",
            endpoints={
                "": Endpoint(
                    "/coverage-gaps",
                    (
                        Param("district", ParamKind.text, "District, e.g. 黄岛区", max_length=64),
                        Param(
                            "sector",
                            ParamKind.choice,
                            "One high-risk sector",
                            choices=tuple(s.value for s in Sector if s.is_high_risk),
                        ),
                        _cursor(200),
                        _LIMIT,
                    ),
                )
            },
            subject_fields=("uscc",),
        ),
    )
}


def dataset_of(code: str) -> DataSet:
    """The catalogue's data set `code`; 404 dataset_not_found otherwise."""
    found = CATALOGUE.get(code)
    if found is None:
        raise DatasetNotFound(
            f"there is no data set {_shown(code)} (known: {', '.join(CATALOGUE)})",
            dataset=code[:64],
        )
    return found


# --- grants ----------------------------------------------------------------------------------


class GrantStatus(StrEnum):
    active = "active"
    expired = "expired"
    revoked = "revoked"


class GrantLike(Protocol):
    """What the rules need of a grant (the Grant row has it)."""

    @property
    def id(self) -> str: ...

    @property
    def expires_at(self) -> datetime: ...

    @property
    def revoked_at(self) -> datetime | None: ...


G = TypeVar("G", bound=GrantLike)


def grant_status(grant: GrantLike, now: datetime) -> GrantStatus:
    """Rule `grant_in_force`: revoked is final; otherwise in force until its expiry instant."""
    if grant.revoked_at is not None:
        return GrantStatus.revoked
    if grant.expires_at <= now:
        return GrantStatus.expired
    return GrantStatus.active


def latest_expiry(now: datetime) -> datetime:
    """The furthest expiry a grant made `now` may have: MAX_GRANT_YEARS on (29 Feb → 28 Feb)."""
    try:
        return now.replace(year=now.year + MAX_GRANT_YEARS)
    except ValueError:
        return now.replace(year=now.year + MAX_GRANT_YEARS, day=28)


def check_expiry(expires_at: datetime, now: datetime) -> None:
    """Rule `grant_term`: a grant expires in the future, at most MAX_GRANT_YEARS ahead."""
    if expires_at <= now:
        raise ExpiryInvalid("`expires_at` must be in the future", field="expires_at")
    if expires_at > latest_expiry(now):
        raise ExpiryInvalid(
            f"a grant runs at most {MAX_GRANT_YEARS} years: `expires_at` must be on or before "
            f"{latest_expiry(now).isoformat()}",
            field="expires_at",
        )


def choose_grant(dataset: str, active: Sequence[G], wanted: str | None) -> G:
    """Rule `read_under_grant`: the active grant a read is made under.

    `wanted` (the read's `grant` parameter) names one of them; it may be left out when there
    is exactly one. The read carries that grant's purpose.
    """
    if wanted is not None:
        for grant in active:
            if grant.id == wanted:
                return grant
        raise NoGrant(
            f"grant {_shown(wanted)} is not an active grant of yours for data set {dataset!r}",
            dataset=dataset,
        )
    if not active:
        raise NoGrant(f"you hold no active grant for data set {dataset!r}", dataset=dataset)
    if len(active) > 1:
        raise GrantRequired(
            f"you hold {len(active)} active grants for data set {dataset!r}, each for its own "
            "purpose: say which this read is for with ?grant=<id>",
            field=GRANT_PARAMETER,
            dataset=dataset,
            grants=[g.id for g in active],
        )
    return active[0]


# --- what a read returned --------------------------------------------------------------------


def _values_at(item: Any, path: Sequence[str]) -> Iterable[Any]:
    if not path:
        yield item
        return
    if isinstance(item, Mapping):
        yield from _values_at(item.get(path[0]), path[1:])
    elif isinstance(item, list):
        for element in item:
            yield from _values_at(element, path)


@dataclass(frozen=True)
class ReadAnswer:
    """An owner's page as the gateway relays it."""

    items: list[Any]
    next_cursor: str | None
    subjects: frozenset[str] = field(default_factory=frozenset)


def answer_of(dataset: DataSet, body: Any) -> ReadAnswer:
    """The items and cursor of an owner's page, and the enterprises (USCCs) it names;
    ValueError if the body is not a page."""
    if not isinstance(body, Mapping):
        raise ValueError("the answer is not a JSON object")
    items = body.get("items")
    cursor = body.get("next_cursor")
    if not isinstance(items, list) or not (cursor is None or isinstance(cursor, str)):
        raise ValueError("the answer is not a page (items, next_cursor)")
    return ReadAnswer(items, cursor, subjects_of(dataset, items))


def subjects_of(dataset: DataSet, items: Iterable[Any]) -> frozenset[str]:
    """Every distinct enterprise (valid USCC, normalised) the items name in the data set's
    subject fields; anything else there is not an enterprise and is left out."""
    paths = [f.split(".") for f in dataset.subject_fields]
    found: set[str] = set()
    for item in items:
        for path in paths:
            for value in _values_at(item, path):
                if isinstance(value, str):
                    try:
                        found.add(validate_uscc(value))
                    except InvalidUSCC:
                        continue
    return frozenset(found)
