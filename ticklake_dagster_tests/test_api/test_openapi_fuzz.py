"""Schemathesis against the API's own OpenAPI document: bounded, derandomized, on the materialized database."""

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from ticklake_dagster.api import create_app
from ticklake_dagster.api.app import OPENAPI_SYMBOL_PATTERN
from ticklake_dagster.core.symbols import SYMBOL_PATTERN, is_valid_symbol
from ticklake_dagster.defs.resources import DatabaseResource


@pytest.fixture(scope="module")
def api_app(filled):
    return create_app(filled.database)


# The document is loaded at collection, from an app that never connects (schemathesis's fixture-based
# loader does not run on pytest 9); every generated request then goes to `api_app` on the filled database.
schema = schemathesis.openapi.from_dict(
    create_app(DatabaseResource(url="postgresql://127.0.0.1:1/unused", home=".")).openapi()
)


@schema.parametrize()
@settings(max_examples=60, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case, api_app):
    """No 5xx, documented statuses and content types, bodies matching their schemas, bad input rejected.

    /api/candles and /api/ticks have rules a schema cannot state (from <= to, the range must fit the limit;
    this app serves no lake), so schema-valid requests may get a documented 400 or 404 there:
    positive_data_acceptance is off for those two alone.
    """
    excluded = [positive_data_acceptance] if case.operation.path in ("/api/candles", "/api/ticks") else []
    case.call_and_validate(app=api_app, excluded_checks=excluded)


@given(
    st.one_of(
        st.from_regex(OPENAPI_SYMBOL_PATTERN, fullmatch=True),
        st.from_regex(SYMBOL_PATTERN, fullmatch=True),
        st.text(alphabet="AZ09._-a\n ", max_size=34),
    )
)
@settings(max_examples=300, derandomize=True, database=None)
def test_the_documented_symbol_pattern_is_the_symbol_rule(text):
    documented = re.fullmatch(OPENAPI_SYMBOL_PATTERN, text) is not None and 1 <= len(text) <= 32
    assert documented == is_valid_symbol(text)
