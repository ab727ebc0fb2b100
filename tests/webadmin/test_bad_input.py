"""Inputs that gave 500 get a clear 4xx: CTI wrap-up seconds, the users form id, a CSV field over 128 KiB, YAML
nested 5,000 deep, a 5 MB flow, NUL in a prompt name."""
import pytest
from web_fixtures import csrf_of, login, make_app

from trunkline.acd.core import ACDError
from trunkline.ivr import flowdoc
from trunkline.ivr.campaign_store import parse_numbers
from trunkline.webadmin.cti import wrapup_seconds


@pytest.fixture
def admin(tmp_path):
    app, _ = make_app(tmp_path)
    c = app.test_client()
    login(c, "admin")
    return c


def post(c, path, **data):
    tok = csrf_of(c.get(path).get_data(as_text=True))
    return c.post(path, data={"csrf_token": tok, **data})


def test_users_form_with_a_bad_id(admin):
    for bad in ("abc", "", "1e9", "\x00"):
        r = post(admin, "/config/users", op="update", id=bad, role="viewer")
        assert r.status_code == 400, (bad, r.status_code)


def test_flow_documents_too_deep_or_too_large(admin):
    deep = "name: x\nnodes: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(flowdoc.FlowError, match="nested too deep"):
        flowdoc.parse(deep)
    big = "name: x\nnodes:\n" + "".join(f"  n{i}: {{say: hello}}\n" for i in range(260000))
    assert len(big) > 5_000_000
    with pytest.raises(flowdoc.FlowError, match="too large"):
        flowdoc.parse(big)
    for text in (deep, big[:600 * 1024]):
        r = post(admin, "/config/flows/edit", name="x", source=text)
        assert r.status_code == 422


def test_prompt_name_with_nul(admin):
    r = post(admin, "/config/prompts", name="hello\x00world", text="hello")
    assert r.status_code == 400


def test_csv_field_over_128_kib():
    rows, notes = parse_numbers("13800000000," + "x" * (200 * 1024) + "\n13800000001\n", "line")
    assert rows == [] and notes and "too large" in notes[0]


def test_cti_wrapup_seconds_not_a_number():
    for bad in ("abc", None, [], {"x": 1}, "nan", "inf", "-1", "0", "4000"):
        with pytest.raises(ACDError):
            wrapup_seconds(bad)
    assert wrapup_seconds("30") == 30.0 and wrapup_seconds(12) == 12.0
