"""Traffic-shifting schedules: CodeDeploy's predefined Lambda configs, exactly."""

from __future__ import annotations

import pytest

from lamina.deploy import configs
from lamina.deploy.configs import ShiftConfig, custom, named, schedule


def test_all_at_once() -> None:
    assert schedule(named("CodeDeployDefault.LambdaAllAtOnce")) == [(0, 1.0)]


@pytest.mark.parametrize("minutes", [5, 10, 15, 30])
def test_predefined_canaries(minutes: int) -> None:
    config = named(f"CodeDeployDefault.LambdaCanary10Percent{minutes}Minutes")
    assert schedule(config) == [(0, 0.1), (minutes * 60, 1.0)]


def test_canary_10_percent_5_minutes_exact() -> None:
    assert schedule(named("CodeDeployDefault.LambdaCanary10Percent5Minutes")) == [(0, 0.1), (300, 1.0)]


def test_linear_10_percent_every_minute_is_ten_steps() -> None:
    steps = schedule(named("CodeDeployDefault.LambdaLinear10PercentEvery1Minute"))
    assert steps == [(0, 0.1), (60, 0.2), (120, 0.3), (180, 0.4), (240, 0.5),
                     (300, 0.6), (360, 0.7), (420, 0.8), (480, 0.9), (540, 1.0)]


@pytest.mark.parametrize("name,minutes", [("Every2Minutes", 2), ("Every3Minutes", 3),
                                          ("Every10Minutes", 10)])
def test_predefined_linears(name: str, minutes: int) -> None:
    steps = schedule(named(f"CodeDeployDefault.LambdaLinear10Percent{name}"))
    assert len(steps) == 10
    assert steps[0] == (0, 0.1) and steps[-1] == (9 * minutes * 60, 1.0)
    assert [o for o, _ in steps] == [i * minutes * 60 for i in range(10)]


def test_every_predefined_name_is_known() -> None:
    assert sorted(configs.PREDEFINED) == sorted([
        "CodeDeployDefault.LambdaAllAtOnce",
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        "CodeDeployDefault.LambdaCanary10Percent10Minutes",
        "CodeDeployDefault.LambdaCanary10Percent15Minutes",
        "CodeDeployDefault.LambdaCanary10Percent30Minutes",
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
        "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes",
        "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
    ])


def test_names_without_prefix_and_sam_types() -> None:
    full = named("CodeDeployDefault.LambdaCanary10Percent5Minutes")
    assert named("LambdaCanary10Percent5Minutes") == full
    assert named("Canary10Percent5Minutes") == full          # SAM DeploymentPreference.Type
    assert named("AllAtOnce") == ShiftConfig(configs.ALL_AT_ONCE)
    with pytest.raises(ValueError, match="unknown deployment config"):
        named("Canary10Percent7Minutes")


def test_custom_canary_and_linear() -> None:
    assert schedule(custom(configs.CANARY, "25:2")) == [(0, 0.25), (120, 1.0)]
    assert schedule(custom(configs.LINEAR, "50:1")) == [(0, 0.5), (60, 1.0)]
    # A percentage that does not divide 100: the last increment is smaller.
    assert schedule(custom(configs.LINEAR, "30:1")) == [(0, 0.3), (60, 0.6), (120, 0.9), (180, 1.0)]
    assert schedule(custom(configs.LINEAR, "1:1"))[-2:] == [(5880, 0.99), (5940, 1.0)]


@pytest.mark.parametrize("kind,spec", [(configs.CANARY, "0:5"), (configs.CANARY, "100:5"),
                                       (configs.LINEAR, "10:0"), (configs.LINEAR, "10"),
                                       (configs.LINEAR, "ten:1"), (configs.CANARY, "10.5:1")])
def test_custom_rejects_bad_specs(kind: str, spec: str) -> None:
    with pytest.raises(ValueError):
        custom(kind, spec)


def test_weights_are_exact_and_increasing() -> None:
    for config in configs.PREDEFINED.values():
        steps = schedule(config)
        weights = [w for _, w in steps]
        assert weights == sorted(weights) and weights[-1] == 1.0
        assert all(w == round(w, 2) for w in weights)
        assert [o for o, _ in steps] == sorted(o for o, _ in steps)
