"""An idle report (:func:`berth.domain.idle.evaluate`) as the API shows it (``IdleOut``)."""

from __future__ import annotations

from datetime import datetime

from berth.domain import idle
from berth.manager.schemas_usage import IdleCheckOut, IdleOut, IdleResourceOut


def _limit(policy: idle.IdlePolicy, check: idle.IdleCheck) -> int | None:
    if check is idle.IdleCheck.SESSION_LIFETIME:
        return policy.max_lifetime
    if check is idle.IdleCheck.NETWORK_TIMEOUT:
        return policy.network_timeout
    return policy.utilization.window if policy.utilization else None


def report_out(policy: idle.IdlePolicy, report: idle.IdleReport, now: datetime) -> IdleOut:
    """The API's view of ``report`` (evaluated at ``now`` under ``policy``)."""
    checks = [IdleCheckOut(
        check=str(c.check),
        enabled=c.remaining is not None, limit=_limit(policy, c.check), remaining=c.remaining,
        remaining_text=idle.format_remaining(c.remaining), deadline=c.deadline,
        reached=c.reached, urgency=idle.urgency(c.remaining), warn=c.warn, detail=c.detail)
        for c in report.checks]
    usage = [IdleResourceOut(resource=u.resource, threshold=u.threshold, average=u.average,
                             covered=u.covered, coverage=u.coverage, level=u.level)
             for u in report.usage]
    rule = policy.utilization
    return IdleOut(evaluated_at=now, checks=checks, utilization=usage,
                   combine=rule.combine if rule else None,
                   grace_period=rule.grace_period if rule else None,
                   warn_before=policy.warn_before)
