"""CDR search and caller-ID display through the Chinese number module (#17): any written form finds a
number however it was stored, and numbers are shown as people write them."""
import datetime as dt

from web_fixtures import login, make_app

from trunkline.data import db
from trunkline.data.models import Cdr

T = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc)


def test_cdr_search_folds_prefixes_and_shows_numbers_grouped(tmp_path):
    app, hub = make_app(tmp_path)
    with db.session_scope(hub.session_factory) as s:
        s.add(Cdr(call_id="m1", start=T, caller="+8613812345678", called="95588", outcome="answered"))
        s.add(Cdr(call_id="f1", start=T, caller="01062345678", called="95588", outcome="answered"))
        s.add(Cdr(call_id="x1", start=T, caller="13700000000", called="95588", outcome="answered"))
    c = app.test_client()
    login(c, "admin")
    for typed in ("13812345678", "013812345678", "0086 138 1234 5678", "+86-138-1234-5678"):
        page = c.get("/cdrs", query_string={"number": typed}).get_data(as_text=True)
        assert "138 1234 5678" in page and "13700000000" not in page, typed
    for typed in ("+86 10 6234 5678", "010-62345678"):
        page = c.get("/cdrs", query_string={"number": typed}).get_data(as_text=True)
        assert "010-6234 5678" in page and "138 1234 5678" not in page, typed
