"""`--customer` and the notebooks' `customer_id` take a tenant id or a customer name (issue 13, item 8)."""
from __future__ import annotations

import polars as pl
import pytest

from adoption_kit import analysis
from adoption_kit.analysis import UnknownCustomerError, find_customer, resolve_customer, validate_customer_ref
from adoption_kit.errors import ParameterError

T1 = "0112a436-b14e-4888-967b-ca4bb2cf1234"
T2 = "5d8c9e21-3f4a-4b6c-8d7e-9f0a1b2c3d4e"
T3 = "9a9a9a9a-0000-4000-8000-000000000003"
CUSTOMERS = pl.DataFrame({"customer_id": [T1, T2, T3],
                          "customer_name": ["Contoso Ltd", "Fabrikam GmbH", "Fabrikam  gmbh"]})


def test_a_name_resolves_exactly_ignoring_case_and_spaces():
    assert resolve_customer(CUSTOMERS, "contoso LTD") == T1
    assert resolve_customer(CUSTOMERS, "  Contoso   Ltd ") == T1
    assert find_customer(CUSTOMERS, "CONTOSO LTD")["customer_id"] == T1
    assert resolve_customer(CUSTOMERS, "{" + T2.upper() + "}") == T2   # a GUID stays a GUID


def test_an_unknown_name_lists_the_closest_ids_and_names():
    with pytest.raises(UnknownCustomerError) as error:
        find_customer(CUSTOMERS, "Contoso Limited")
    assert "closest" in str(error.value) and T1 in str(error.value) and "Contoso Ltd" in str(error.value)


def test_a_name_shared_by_two_tenants_asks_for_the_id():
    with pytest.raises(ParameterError) as error:
        resolve_customer(CUSTOMERS, "fabrikam gmbh")
    assert T2 in str(error.value) and T3 in str(error.value)


@pytest.mark.parametrize("hostile", ['x"); import os; os.system("id") #', "a\\nb", "{customer}", "a\x00b",
                                     "", "`id`", "$(id)", "<script>", "x" * 300])
def test_anything_neither_a_guid_nor_a_plain_name_is_refused(hostile):
    with pytest.raises(ParameterError):
        validate_customer_ref(hostile)
    # the GUID-only guard of notebook parameters stays as it was
    with pytest.raises(ParameterError):
        analysis.validate_customer_id(hostile)


def test_plain_names_pass_the_guard():
    for name in ("Contoso Ltd", "O'Brien & Sons (UK)", "Zoë Ñúñez GmbH", "A.B.C. 1-2-3 + Co/ops", "株式会社テスト"):
        assert validate_customer_ref(name) == name
