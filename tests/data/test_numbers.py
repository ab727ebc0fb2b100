"""Chinese number normalisation (#17): one subscriber however the number is written."""
import pytest

from trunkline.data import numbers

FORMS = ["13800138000", "+8613800138000", "008613800138000", "8613800138000", "013800138000",
         "+86 138-0013-8000", " 138 0013 8000 "]


@pytest.mark.parametrize("written", FORMS)
def test_mobile_forms_are_one_number(written):
    assert numbers.canonical(written) == "13800138000"
    assert numbers.kind(written) == "mobile"
    assert numbers.e164(written) == "+8613800138000"
    assert numbers.display(written) == "138 0013 8000"


@pytest.mark.parametrize("written,canon,area,shown", [
    ("010-62345678", "01062345678", "010", "010-6234 5678"),
    ("+861062345678", "01062345678", "010", "010-6234 5678"),
    ("00861062345678", "01062345678", "010", "010-6234 5678"),
    ("0755 1234 5678", "075512345678", "0755", "0755-1234 5678"),
    ("+86 755 12345678", "075512345678", "0755", "0755-1234 5678"),
    ("0571-8765432", "05718765432", "0571", "0571-8765432"),
])
def test_fixed_lines_with_area_codes(written, canon, area, shown):
    assert numbers.canonical(written) == canon
    assert numbers.kind(written) == "fixed"
    assert numbers.area_code(written) == area
    assert numbers.display(written) == shown
    assert numbers.e164(written) == "+86" + canon[1:]


def test_service_international_anonymous_and_prefixes():
    assert numbers.kind("95588") == "service" and numbers.canonical("95588") == "95588"
    assert numbers.canonical("0014155550100") == "+14155550100" == numbers.canonical("+1 415 555 0100")
    assert numbers.kind("+14155550100") == "international"
    assert numbers.canonical("") == "" and numbers.kind(None) == "anonymous"
    assert numbers.canonical_prefix("+86138") == "138" == numbers.canonical_prefix("0086138")
    assert numbers.canonical_prefix("+8610") == "010" and numbers.canonical_prefix("00852") == "+852"
    assert numbers.search_key("+86 10 6234 5678") == "1062345678"
