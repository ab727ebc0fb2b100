"""Call firewall rules: exact beats prefix, longest prefix wins, anonymous callers, DB persistence."""
import pytest

import trunkline.ivr.models  # noqa: F401
from trunkline.data.db import Base, make_engine, make_session_factory
from trunkline.ivr import blacklist
from trunkline.ivr.blacklist import Firewall


@pytest.fixture
def sf(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path}/b.db")
    Base.metadata.create_all(eng)
    return make_session_factory(eng)


def test_rules_and_precedence(sf):
    fw = Firewall(sf)
    fw.add("170", "prefix", "reject", cause=21, note="virtual operators")
    fw.add("1701234", "prefix", "flow", flow="screening")
    fw.add("17012345678", "exact", "flow", flow="vip")
    fw.add("", "anonymous", "flow", flow="ask-number")
    assert fw.check("13800000000").allowed
    assert fw.check("17099999999") == blacklist.Action("reject", "", 21, "170", "virtual operators")
    assert fw.check("17012340000").flow == "screening"
    assert fw.check("170-1234-5678").flow == "vip"
    assert fw.check("").flow == "ask-number" and fw.check(None).flow == "ask-number"
    # a fresh firewall on the same DB sees the same rules
    fw2 = Firewall(sf)
    assert fw2.check("17099999999").kind == "reject" and fw2.check("17012345678").flow == "vip"
    assert fw2.remove("170", "prefix")
    assert Firewall(sf).check("17099999999").allowed


def test_bad_rules_are_refused_and_nothing_changes(sf):
    fw = Firewall(sf)
    for args, msg in [(("13x", "exact"), "digits"), (("138", "regex"), "match"),
                      (("138", "prefix", "drop"), "action"), (("138", "prefix", "flow"), "flow name"),
                      (("138", "prefix", "reject", "", 300), "cause")]:
        with pytest.raises(ValueError, match=msg):
            fw.add(*args)
    assert fw.rules() == [] and Firewall(sf).rules() == []


def test_module_level_check_used_by_the_server(sf):
    blacklist.configure(sf)
    blacklist.add("95", "prefix", "reject", cause=21)
    assert blacklist.check("95555").kind == "reject"
    assert blacklist.check("+8613800000000").allowed
    blacklist.configure(None)        # back to an empty in-memory rule set
    assert blacklist.check("95555").allowed


def test_rules_match_every_written_form_of_a_number():
    """#17: a rule for 13800138000 stops +8613800138000, 008613800138000 and 013800138000; a prefix rule
    written +86139 stops 13912345678; rows the web admin stored in any written form apply."""
    from trunkline.ivr.blacklist import Firewall
    fw = Firewall()
    fw.add("13800138000")
    fw.add("+86139", match="prefix")
    fw.add("010-62345678")
    for caller in ("+8613800138000", "008613800138000", "013800138000", "13800138000", "13912345678",
                   "+861062345678", "01062345678"):
        assert not fw.check(caller).allowed, caller
    assert fw.check("13700137000").allowed and fw.check("95588").allowed
