from __future__ import annotations

import pytest

from inference_server.config import parse_args


def test_environment_variables_configure_the_server_and_flags_beat_them():
    env = {"DETECTOR_MODEL_URI": "s3://b/m.tar.gz", "DETECTOR_PORT": "8000", "DETECTOR_MAX_BATCH_SIZE": "4",
           "DETECTOR_MODEL_NAME": "from-env", "DETECTOR_SCORE_THRESHOLD": "0.6", "DETECTOR_GRPC_PORT": "8500"}
    cfg = parse_args(["--model-name", "from-flag"], env)
    assert (cfg.model_uri, cfg.port, cfg.max_batch_size, cfg.score_threshold) == ("s3://b/m.tar.gz", 8000, 4, 0.6)
    assert cfg.grpc_port == 8500
    assert cfg.model_name == "from-flag"


def test_defaults_follow_the_design_contract():
    cfg = parse_args(["--model-uri", "/models/model"], {})
    assert (cfg.host, cfg.port, cfg.max_body_bytes, cfg.model_name) == ("0.0.0.0", 8080, 16 * 1024 * 1024, "detector")
    assert cfg.grpc_port == 9000 and parse_args(["--model-uri", "m", "--grpc-port", "0"], {}).grpc_port == 0
    assert cfg.label_map_uri is None


@pytest.mark.parametrize("argv,env", [
    ([], {}),
    (["--model-uri", "x", "--max-batch-size", "0"], {}),
    (["--model-uri", "x"], {"DETECTOR_SCORE_THRESHOLD": "2"}),
    (["--model-uri", "x"], {"DETECTOR_PORT": "eighty"}),
    (["--model-uri", "x", "--grpc-port", "70000"], {}),
    (["--model-uri", "x", "--port", "9000"], {}),  # the default gRPC port: both cannot have it
])
def test_bad_settings_stop_with_a_usage_error(argv, env, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(argv, env)
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err
