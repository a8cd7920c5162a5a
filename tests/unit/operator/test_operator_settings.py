from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import detector_operator
from detector_operator.settings import DEFAULT_CPU_IMAGE, Settings, SettingsError


def test_defaults_match_the_design_table():
    s = Settings.from_env({})
    assert s.cpu_image == DEFAULT_CPU_IMAGE and s.gpu_image.endswith(":0.1.0-gpu")
    assert (s.watch_namespaces, s.log_level, s.liveness_port, s.peering_name, s.cluster_domain) == (
        (), "INFO", 8081, "detector-operator", "cluster.local",
    )


def test_environment_overrides_every_setting():
    s = Settings.from_env({
        "DETECTOR_CPU_IMAGE": "r/cpu:1", "DETECTOR_GPU_IMAGE": "r/gpu:1",
        "DETECTOR_WATCH_NAMESPACES": " a, b ,", "DETECTOR_LOG_LEVEL": "debug",
        "DETECTOR_LIVENESS_PORT": "9000", "DETECTOR_PEERING_NAME": "p", "DETECTOR_CLUSTER_DOMAIN": "k.local",
    })
    assert s == Settings("r/cpu:1", "r/gpu:1", ("a", "b"), "DEBUG", 9000, "p", "k.local")


@pytest.mark.parametrize("env", [{"DETECTOR_LOG_LEVEL": "LOUD"}, {"DETECTOR_LIVENESS_PORT": "http"}])
def test_bad_values_fail_with_the_variable_name(env):
    with pytest.raises(SettingsError, match=next(iter(env))):
        Settings.from_env(env)


def test_the_version_has_one_owner_pyproject_through_package_metadata():
    version = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text())["project"]["version"]
    assert detector_operator.__version__ == version
    assert DEFAULT_CPU_IMAGE.endswith(f":{version}-cpu") and Settings().gpu_image.endswith(f":{version}-gpu")
