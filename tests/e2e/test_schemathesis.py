"""schemathesis against every service's OpenAPI, on the running system, with an admin's token:
whatever it sends, no service answers with a server error, and what comes back matches the
schema the service publishes.

Requests that name an organisation are pointed at one of the fuzzer's own, and requests that
name a person (erasure, subject access) at nobody, so that what other tests rely on is never
touched.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from contracts import Role
from tests.e2e.conftest import System

ORG = "fuzz-council"
EXAMPLES = int(os.environ.get("REDRESS_SCHEMATHESIS_EXAMPLES", "6"))


def keep_to_our_organisation(case: Any) -> None:
    for where in (case.path_parameters, case.query):
        if where and "organisation_id" in where:
            where["organisation_id"] = ORG
    if case.path_parameters and "who" in case.path_parameters:  # erasure, subject access
        case.path_parameters["who"] = f"nobody-{case.path_parameters['who']}@fuzz.example"
    if isinstance(case.body, dict) and "organisation_id" in case.body:
        case.body["organisation_id"] = ORG


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "service", ["intake", "casework", "deadlines", "notifications", "reporting"]
)
def test_no_request_makes_a_server_error(system: System, service: str) -> None:
    base = system.urls[service]
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    headers = system.auth(Role.ADMIN, "schemathesis")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=not os.environ.get("REDRESS_SCHEMATHESIS_RANDOM"),
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=st.one_of(
                operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
            )
        )
        def check(case: Any) -> None:
            keep_to_our_organisation(case)
            response = case.call(base_url=base, headers=headers, timeout=30)
            case.validate_response(
                response,
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            )

        try:
            check()
        except (
            Exception,
            BaseExceptionGroup,
        ) as exc:  # collect every operation's failure, not just the first
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert operations > 0
    assert not failures, "\n\n".join(failures)
