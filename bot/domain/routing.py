"""Routing a handoff: which advisor should take it, or which queue it waits in.

The rules, in the order they apply (flows/README.md, "Routing", says the same for
marketing):

1. Licensed: the advisor is licensed for the prospect's country AND the product of
   interest. ``*`` among an advisor's countries (products) covers every country
   (product). An unknown country or product (None) is covered only by ``*``: nobody is
   assumed licensed for a jurisdiction or product nobody knows.
2. Available: advisors marked unavailable are skipped.
3. Below ``max_load``: advisors already holding that many open handoffs are skipped.
4. Language: an advisor who speaks the prospect's language is preferred; with
   ``language_match="require"`` only they qualify. An unknown language prefers nobody.
5. Lowest load.
6. Round robin among equals: the least recently assigned first, never-assigned before
   all others. It turns only if the caller records each assignment in
   ``Advisor.last_assigned_at`` (aware datetimes, all in the same zone).
7. Lowest user id, so the same inputs always give the same advisor.

The handoff's queue is the first ``QueueRule`` matching the request, else the fallback
queue; it is named whether or not an advisor is chosen, so a released handoff knows
where to wait. Supervisors, who take handoffs left unclaimed past the SLA, are chosen
by ``escalation_target``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

__all__ = [
    "ANY",
    "Advisor",
    "Decision",
    "Escalation",
    "LanguageMatch",
    "QueueRule",
    "Request",
    "RoutingRules",
    "escalation_target",
    "route",
]

ANY = "*"
LanguageMatch = Literal["prefer", "require"]


def _covers(values: frozenset[str], value: str | None) -> bool:
    return ANY in values or (value is not None and value in values)


@dataclass(frozen=True)
class Advisor:
    """An advisor (or supervisor) as routing sees them; built by the caller from users.

    ``countries`` are ISO 3166 codes in capitals, ``products`` and ``languages`` as named
    in routing.yml; ``*`` covers all. ``load`` is the number of open handoffs they hold.
    """

    user_id: int
    countries: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    available: bool = True
    load: int = 0
    last_assigned_at: datetime | None = None
    team: str | None = None

    def licensed_for(self, country: str | None, product: str | None) -> bool:
        return _covers(self.countries, country) and _covers(self.products, product)

    def speaks(self, language: str | None) -> bool:
        return _covers(self.languages, language)


@dataclass(frozen=True)
class Request:
    """What is known about the prospect when the handoff is routed; None when unknown."""

    country: str | None
    product: str | None
    language: str | None


@dataclass(frozen=True)
class QueueRule:
    """A named queue and the requests it holds; an empty set matches anything.

    ``team`` supervises the queue (its supervisors get its escalations); ``sla``, when
    set, replaces the rules' SLA for this queue.
    """

    name: str
    countries: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    team: str | None = None
    sla: timedelta | None = None

    def matches(self, request: Request) -> bool:
        """Every condition the queue sets holds; an unknown value meets no condition."""
        return all(
            not allowed or value in allowed
            for allowed, value in (
                (self.countries, request.country),
                (self.products, request.product),
                (self.languages, request.language),
            )
        )

    @property
    def matches_everything(self) -> bool:
        return not (self.countries or self.products or self.languages)


@dataclass(frozen=True)
class RoutingRules:
    """The routing marketing and operations tune in ``flows/routing.yml``.

    ``queues`` are tried in order. ``escalation_team``'s supervisors take escalations
    when the handoff's own team has no supervisor free (and handoffs of the fallback
    queue, which belongs to no team). ``products``, when not empty, is every product
    name in use. ``source`` and ``digest`` say which file (and which version of it) the
    rules came from, for the audit log.
    """

    queues: tuple[QueueRule, ...]
    fallback_queue: str
    max_load: int
    sla: timedelta
    products: frozenset[str] = frozenset()
    language_match: LanguageMatch = "prefer"
    escalation_team: str | None = None
    source: str = ""
    digest: str = ""

    def __post_init__(self) -> None:
        if not self.fallback_queue.strip():
            raise ValueError("the fallback queue needs a name")
        if self.max_load < 1:
            raise ValueError(f"max_load must be at least 1, not {self.max_load}")
        if self.sla <= timedelta(0):
            raise ValueError("the SLA must be longer than zero")
        if self.language_match not in ("prefer", "require"):
            raise ValueError(f"language_match must be prefer or require: {self.language_match!r}")

    def queue_for(self, request: Request) -> QueueRule | None:
        """The first queue rule matching ``request``; None means the fallback queue."""
        return next((queue for queue in self.queues if queue.matches(request)), None)

    def _queue(self, name: str) -> QueueRule | None:
        return next((queue for queue in self.queues if queue.name == name), None)

    def sla_for(self, queue: str) -> timedelta:
        """How long a handoff may wait unclaimed in ``queue`` before it is escalated."""
        rule = self._queue(queue)
        return rule.sla if rule is not None and rule.sla is not None else self.sla

    def team_of(self, queue: str) -> str | None:
        """The team supervising ``queue``: its rule's team; None for the fallback queue."""
        rule = self._queue(queue)
        return rule.team if rule is not None else None


@dataclass(frozen=True)
class Decision:
    """Where a handoff goes: its queue, the advisor chosen (None: it waits) and why.

    ``team`` is the team whose supervisors answer for it: the advisor's, else the queue's.
    """

    queue: str
    advisor_id: int | None
    why: str
    team: str | None = None


def _last_assigned(advisor: Advisor) -> tuple[datetime, ...]:
    # () sorts before any (datetime,): never-assigned advisors come first, and a None is
    # never compared with a datetime.
    return () if advisor.last_assigned_at is None else (advisor.last_assigned_at,)


def _ranked(
    people: Iterable[Advisor], first: Callable[[Advisor], bool] = lambda _: True
) -> list[Advisor]:
    """``people`` best first: those ``first`` holds for, lowest load, least recently
    assigned, lowest user id."""
    return sorted(people, key=lambda a: (not first(a), a.load, _last_assigned(a), a.user_id))


def _for(request: Request) -> str:
    return f"{request.country or 'unknown country'}/{request.product or 'unknown product'}"


def _tie_break(ranked: Sequence[Advisor], language: str | None, max_load: int) -> str:
    """Why the first of ``ranked`` beat the second, in words."""
    if len(ranked) == 1:
        return "the only one free"
    best, next_best = ranked[0], ranked[1]
    if language is not None and best.speaks(language) != next_best.speaks(language):
        return f"the only {language}-speaking one free"
    if best.load != next_best.load:
        return f"lowest load ({best.load} of {max_load})"
    if _last_assigned(best) != _last_assigned(next_best):
        return "next in turn (least recently assigned)"
    return "next in turn (lowest user id among equals)"


def route(request: Request, advisors: Iterable[Advisor], rules: RoutingRules) -> Decision:
    """The advisor (and queue) for a handoff of ``request``, by the rules in this module."""
    rule = rules.queue_for(request)
    queue = rule.name if rule is not None else rules.fallback_queue
    queue_team = rule.team if rule is not None else None
    language = request.language
    licensed = [a for a in advisors if a.licensed_for(request.country, request.product)]
    away = [a for a in licensed if not a.available]
    full = [a for a in licensed if a.available and a.load >= rules.max_load]
    free = [a for a in licensed if a.available and a.load < rules.max_load]
    mute: list[Advisor] = []
    if language is not None and rules.language_match == "require":
        mute = [a for a in free if not a.speaks(language)]
        free = [a for a in free if a.speaks(language)]
    if not free:
        if not licensed:
            reason = f"nobody is licensed for {_for(request)}"
        else:
            counts = [
                (len(away), "unavailable"),
                (len(full), f"at the maximum load of {rules.max_load}"),
                (len(mute), f"not {language}-speaking"),
            ]
            reason = f"no advisor free for {_for(request)} ({len(licensed)} licensed: " + (
                ", ".join(f"{n} {what}" for n, what in counts if n) + ")"
            )
        where = f"queue {queue}" if rule is not None else f"the fallback queue {queue}"
        return Decision(queue, None, f"{reason}; waiting in {where}", queue_team)
    ranked = _ranked(free, lambda a: language is None or a.speaks(language))
    chosen = ranked[0]
    if language is None:
        speaks = "language not known yet"
    elif chosen.speaks(language):
        speaks = f"{language}-speaking"
    else:
        speaks = f"not {language}-speaking (nobody free speaks it)"
    why = f"{speaks}, licensed for {_for(request)}, {_tie_break(ranked, language, rules.max_load)}"
    return Decision(queue, chosen.user_id, why, chosen.team or queue_team)


@dataclass(frozen=True)
class Escalation:
    """The supervisor who takes an unclaimed handoff (None: there is no supervisor)."""

    supervisor_id: int | None
    team: str | None
    why: str


def escalation_target(
    supervisors: Iterable[Advisor], team: str | None, rules: RoutingRules
) -> Escalation:
    """The supervisor for a handoff of ``team`` left unclaimed past its SLA.

    Licences play no part: supervisors oversee, they do not advise. An available
    supervisor of ``team`` first, else of ``rules.escalation_team``, else any available
    supervisor; if none is available, the same order among those away, so an escalation
    always has an owner while any supervisor exists. Within each group: lowest load, then
    least recently assigned, then lowest user id. Pass ``Decision.team`` (or
    ``RoutingRules.team_of(queue)`` for a waiting handoff) as ``team``.
    """
    people = list(supervisors)
    teams = list(dict.fromkeys(t for t in (team, rules.escalation_team) if t is not None))
    for available in (True, False):
        for wanted in (*teams, None):
            group = [
                s
                for s in people
                if s.available == available and (wanted is None or s.team == wanted)
            ]
            if not group:
                continue
            chosen = _ranked(group)[0]
            missing = "free" if available else "found"
            if wanted is None:
                whose = "a supervisor of any team"
                if teams:
                    whose += f" (none in {' or '.join(teams)} was {missing})"
            elif wanted == team:
                whose = f"a supervisor of team {team}"
            else:
                whose = f"a supervisor of the escalation team {wanted}"
                if team is not None:
                    whose += f" (none in {team} was {missing})"
            state = "" if available else ", though unavailable: nobody else could take it"
            why = f"unclaimed past the SLA; {whose}{state}"
            return Escalation(chosen.user_id, chosen.team, why)
    return Escalation(None, None, "unclaimed past the SLA, but there is no supervisor to take it")
