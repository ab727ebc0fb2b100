"""Post-call survey: after the agent hangs up the caller rates the call 1-5; the score joins the CDR."""
from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from trunkline.data.db import session_scope
from trunkline.media.call import Call
from trunkline.media.errors import Timeout

from .cdr import CallTrace
from .models import IvrSurveyScore
from .services import Services

log = logging.getLogger(__name__)


def store_score(session_factory: Callable[[], Session], call_id: str, score: int | None, queue: str = "",
                agent: str = "", caller: str = "") -> None:
    """Insert a survey row (score None = no answer)."""
    with session_scope(session_factory) as s:
        s.add(IvrSurveyScore(call_id=str(call_id), score=score, queue=queue, agent=agent, caller=caller))


def scores(session_factory: Callable[[], Session], call_id: str) -> list[int | None]:
    """Stored survey scores of a call."""
    with session_factory() as s:
        return [r.score for r in s.query(IvrSurveyScore).filter_by(call_id=str(call_id)).order_by(IvrSurveyScore.id)]


async def survey(call: Call, services: Services, queue: str = "", agent: str = "", lang: str = "zh",
                 retries: int = 2, timeout: float = 6.0, trace: CallTrace | None = None) -> int | None:
    """Ask the caller for a 1-5 rating (retries on no/invalid answer); returns the score or None."""
    lib = services.prompts
    if lib is None:
        raise RuntimeError("survey: no prompt library configured")
    score = None
    agent = agent or call.cdr.agent or ""
    for _ in range(max(1, retries)):
        call.flush_digits()
        await call.play(lib.path("survey-ask", lang), barge_in=True)
        try:
            d = await call.get_digits(1, timeout=timeout, terminators="")
        except Timeout:
            continue
        if trace is not None:
            trace.entered("survey", value=d)
        if d in "12345":
            score = int(d)
            break
    call.cdr.survey_score = score
    if services.session_factory is not None:
        try:
            store_score(services.session_factory, call.id, score, queue, agent, call.caller_id or "")
        except SQLAlchemyError:        # a database hiccup must not end the call: the caller still hears thanks
            log.exception("survey score of call %s not stored", call.id)
    if score is not None:
        await call.play(lib.path("survey-thanks", lang), barge_in=False)
    return score
