from __future__ import annotations

import pytest

from inference_server.config import ServerConfig, parse_args


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


def test_every_server_setting_in_the_crd_reaches_a_server_flag_and_names_its_default():
    """The CRD's `server` block (operator) and the server's flags are written apart (the operator
    never imports the server): each field must become a variable the server reads, and a default
    a description quotes must be the server's."""
    import re

    from detector_operator import availability, builders, models
    from inference_server import config

    every = dict.fromkeys(models.ServerSettings.model_fields, 7)
    spec = models.ObjectDetectorSpec(model_uri="s3://b/m.tar.gz", server=models.ServerSettings.model_construct(**every))
    env = {e["name"]: e["value"] for e in builders.server_env(builders.Owner("d", "n", "u"), spec)}
    flags = {var: flag[2:].replace("-", "_") for flag, var, _, _ in config._OPTIONS}
    for name, field in models.ServerSettings.model_fields.items():
        if name in availability.KUBELET_SETTINGS:  # the startup probe's, not the server's
            continue
        var = f"DETECTOR_{name.upper()}"
        assert env.get(var) == "7", f"{name}: the builder sets no {var}"
        assert flags.get(var) == name, f"{name}: the server has no flag read from {var}"
        quoted = re.search(r"default (\d+)\)", field.description or "")
        if quoted:
            assert int(quoted.group(1)) == config._DEFAULTS[name], f"{name}: description says {quoted.group(0)}"


def test_help_states_the_defaults_the_server_uses(capsys):
    """`--help` shows ServerConfig's own defaults (and a variable's value when it is set)."""
    with pytest.raises(SystemExit):
        parse_args(["--help"], {})
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for name in ("model_name", "host", "port", "grpc_port", "max_batch_size", "batch_timeout_ms",
                 "score_threshold", "max_detections", "max_body_bytes"):
        assert f"(default: {getattr(ServerConfig, name)}" in shown, name
    with pytest.raises(SystemExit):
        parse_args(["--help"], {"DETECTOR_PORT": "8000"})
    assert "(default: 8000) [env DETECTOR_PORT]" in " ".join(capsys.readouterr().out.split())
