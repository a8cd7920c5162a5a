"""Schemathesis drives every operation in the server's OpenAPI schema against the live shared server,
with valid and deliberately invalid inputs: none may cause a 5xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from inference_server.app import create_app
from inference_server.config import ServerConfig
from tests.support.server_process import TEST_MODEL_NAME

# The schema comes from the same factory the server runs (building the app starts nothing);
# the requests go over HTTP to the running process.
schema = schemathesis.openapi.from_dict(create_app(ServerConfig(model_uri="unused")).openapi())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
FUZZ = settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@schema.parametrize()
@FUZZ
def test_no_input_makes_the_server_fail(case, shared_server):
    case.call_and_validate(base_url=shared_server.url, checks=[not_a_server_error])


@schema.parametrize()
@FUZZ
def test_no_input_to_the_served_model_makes_the_server_fail(case, shared_server):
    if "name" in (case.path_parameters or {}):
        case.path_parameters["name"] = TEST_MODEL_NAME  # past the 404: into decoding and inference
    case.call_and_validate(base_url=shared_server.url, checks=[not_a_server_error])
