"""Presets mirror docs/thesis.md §7; --set overrides are type- and range-checked."""

from dataclasses import fields

import pytest

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab.models import MODEL_NAMES
from spectral_edge.lab.presets import (
    PRESETS,
    TrainConfig,
    config_from_dict,
    get_preset,
    parse_model_args,
    parse_overrides,
)

PAPER = [
    "modarith-add",
    "modarith-sub",
    "modarith-mul",
    "modarith-sq",
    "multitask",
    "dyck",
    "scan",
    "tinystories-51m",
    "gpt2-124m",
    "mlp-lockin",
]
CPU = ["modadd-cpu", "modadd-cpu-wd0", "dyck-cpu", "scan-cpu", "lm-tiny"]


@pytest.mark.parametrize("name", PAPER + CPU)
def test_every_named_preset_exists_and_validates(name):
    cfg = get_preset(name)
    assert cfg.validate() is cfg
    assert cfg.model in MODEL_NAMES


def test_all_presets_validate_and_round_trip():
    for cfg in PRESETS.values():
        cfg.validate()
        assert config_from_dict(cfg.to_dict()) == cfg


def test_paper_configurations_match_the_thesis():
    m = get_preset("modarith-add")
    assert (m.p, m.train_fraction, m.lr, m.betas, m.weight_decay) == (
        97,
        0.5,
        1e-3,
        (0.9, 0.98),
        1.0,
    )
    assert (m.batch_size, m.clip, m.monitor_every, m.monitor_window) == (512, 1.0, 100, 10)
    assert m.monitor_params == "attention" and m.model == "modular-transformer"
    assert [get_preset(f"modarith-{o}").op for o in ("sub", "mul", "sq")] == ["sub", "mul", "a2_b2"]
    d = get_preset("dyck")
    assert (d.n_train, d.n_test, d.max_pairs, d.batch_size, d.weight_decay) == (
        50,
        5000,
        12,
        0,
        1.0,
    )
    assert 3 <= d.monitor_window <= 5
    s = get_preset("scan")
    assert (s.lr, s.batch_size, s.n_train, s.monitor_window) == (1e-4, 256, 2048, 5)
    t = get_preset("tinystories-51m")
    assert (t.lr, t.betas[1], t.weight_decay, t.warmup, t.steps) == (1e-3, 0.95, 0.5, 1500, 10_000)
    assert t.schedule == "cosine" and t.final_fraction == 0.1 and t.scaled_down
    g = get_preset("gpt2-124m")
    assert (g.lr, g.weight_decay, g.shift_step, g.model) == (3e-5, 0.1, 17_800, "gpt2-124m")
    q = get_preset("mlp-lockin")
    assert (q.p, q.train_fraction, q.weight_decay, q.monitor_window) == (71, 0.4, 2e-4, 20)
    assert q.task == "mlp-modular" and q.model == "mlp-quadratic"


def test_control_differs_only_in_weight_decay():
    a, b = get_preset("modadd-cpu").to_dict(), get_preset("modadd-cpu-wd0").to_dict()
    diff = {k for k in a if a[k] != b[k]}
    assert diff == {"weight_decay", "note"} and b["weight_decay"] == 0.0


def test_overrides_parse_each_type():
    cfg = parse_overrides(
        ["lr=3e-3", "steps=2_000", "betas=0.9,0.95", "scaled_down=false", "op=mul", "clip=0"],
        get_preset("modadd-cpu"),
    )
    assert (cfg.lr, cfg.steps, cfg.betas, cfg.scaled_down, cfg.op, cfg.clip) == (
        3e-3,
        2000,
        (0.9, 0.95),
        False,
        "mul",
        0.0,
    )
    assert parse_overrides(["eval-every=5"]) == {"eval_every": 5}
    assert parse_model_args("hidden=128, d_embed=32,name=x") == {
        "hidden": 128,
        "d_embed": 32,
        "name": "x",
    }


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        ("lrr=1e-3", "did you mean 'lr'"),
        ("weight_decy=0", "did you mean 'weight_decay'"),
        ("steps=ten", "steps must be an integer"),
        ("lr=fast", "lr must be a number"),
        ("betas=0.9", "betas must be 2 comma-separated numbers"),
        ("scaled_down=maybe", "boolean"),
        ("steps=0", "steps must be a positive integer"),
        ("lr=-1", "lr must be > 0"),
        ("train_fraction=1.5", "train_fraction must be in (0, 1)"),
        ("betas=0.9,1.5", "betas must be two numbers in [0, 1)"),
        ("task=vision", "task must be one of"),
        ("lr=nan", "finite"),
        ("model_args=hidden", "model_args must look like"),
        ("no-equals-sign", "key=value"),
    ],
)
def test_bad_overrides_are_one_line_errors(item, needle):
    with pytest.raises(SpectralEdgeError) as info:
        parse_overrides([item], get_preset("modadd-cpu"))
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_preset_suggests_the_closest():
    with pytest.raises(SpectralEdgeError, match="did you mean 'modadd-cpu'"):
        get_preset("modad-cpu")


def test_cross_field_check():
    with pytest.raises(SpectralEdgeError, match="cosine"):
        parse_overrides(["schedule=cosine", "steps=5", "warmup=10"], TrainConfig())


def test_the_config_is_flat():
    for f in fields(TrainConfig):
        assert f.type in ("str", "int", "float", "bool", "tuple[float, float]"), f.name


def test_warning_rule_option():
    from spectral_edge.dynamics.early_warning import DEFAULT_RULE
    from spectral_edge.lab.presets import warning_rule

    assert warning_rule("") == DEFAULT_RULE
    rule = warning_rule("signal=test_loss,direction=fall,threshold=1,sustain=3")
    assert (rule.signal, rule.direction, rule.threshold, rule.sustain) == (
        "test_loss",
        "fall",
        1.0,
        3,
    )
    with pytest.raises(SpectralEdgeError, match="unknown warning_rule key"):
        warning_rule("quantity=g23")
    with pytest.raises(SpectralEdgeError, match="unknown warning signal"):
        parse_overrides(["warning_rule=signal=nope"], get_preset("modadd-cpu"))


def test_retired_fields_of_old_records_are_dropped():
    from spectral_edge.lab.presets import config_from_dict

    old = {**get_preset("modadd-cpu").to_dict(), "warning_quantity": "g23", "warning_rise": 3.0}
    assert config_from_dict(old) == get_preset("modadd-cpu")
