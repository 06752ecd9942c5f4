"""Optimizers (Muon only on hidden matrices), schedules, clipping and the η policy."""

import math

import pytest
import torch
from torch import nn

from spectral_edge.errors import SpectralEdgeError
from spectral_edge.lab import optim
from spectral_edge.lab.models import build_model

HIDDEN_SUFFIXES = (
    "attn.q_proj.weight",
    "attn.k_proj.weight",
    "attn.v_proj.weight",
    "attn.out_proj.weight",
    "mlp.fc_in.weight",
    "mlp.fc_out.weight",
)


@pytest.mark.parametrize(
    "name, n_hidden",
    [("modular-transformer", 12), ("tiny", 12), ("tf-1layer", 6), ("scan-seq2seq", 48)],
)
def test_muon_gets_exactly_the_hidden_matrices(name, n_hidden):
    with torch.device("meta"):
        model = build_model(name)
    hidden, rest = optim.split_hidden_matrices(model)
    assert len(hidden) == n_hidden
    assert all(n.endswith(HIDDEN_SUFFIXES) and p.ndim == 2 for n, p in hidden)
    rest_names = [n for n, _ in rest]
    assert not any(n.endswith(HIDDEN_SUFFIXES) for n in rest_names)
    # Embeddings and the head stay with AdamW, tied or not.
    assert any("embed" in n or n.startswith("wte") for n in rest_names)
    assert {id(p) for _, p in hidden}.isdisjoint({id(p) for _, p in rest})
    total = sum(p.numel() for _, p in hidden + rest)
    assert total == sum(p.numel() for p in model.parameters())


def test_mlp_embed_and_quadratic():
    hidden, rest = optim.split_hidden_matrices(build_model("mlp-embed", p=11))
    assert [n for n, _ in hidden] == ["fc_in.weight"]
    assert "head.weight" in [n for n, _ in rest]
    quad = build_model("mlp-quadratic", p=11, width=16)
    assert optim.split_hidden_matrices(quad)[0] == []
    with pytest.raises(SpectralEdgeError, match="no hidden"):
        optim.make_optimizers(quad, "muon")


def test_muon_set_up_steps_and_respects_the_split():
    torch.manual_seed(0)
    model = build_model("modular-transformer", p=11, d_model=32, n_heads=2, d_ff=64)
    opts = optim.make_optimizers(model, "muon", lr=1e-2, weight_decay=0.1)
    assert isinstance(opts[0], torch.optim.Muon) and isinstance(opts[1], torch.optim.AdamW)
    muon_ids = {id(p) for g in opts[0].param_groups for p in g["params"]}
    hidden, _ = optim.split_hidden_matrices(model)
    assert muon_ids == {id(p) for _, p in hidden}
    assert all(p.ndim == 2 for g in opts[0].param_groups for p in g["params"])
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.randint(0, 12, (16, 3))
    y = torch.randint(0, 11, (16,))
    nn.functional.cross_entropy(model(x), y).backward()
    for o in opts:
        o.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_single_optimizers_cover_everything(name):
    model = build_model("tf-1layer", p=11)
    (opt,) = optim.make_optimizers(model, name, lr=1e-3, weight_decay=1.0)
    ids = {id(p) for g in opt.param_groups for p in g["params"]}
    assert ids == {id(p) for p in model.parameters()}
    assert all(g["weight_decay"] == 1.0 for g in opt.param_groups)


def test_decay_1d_false_exempts_vectors():
    model = build_model("tf-1layer", p=11)
    (opt,) = optim.make_optimizers(model, "adamw", weight_decay=1.0, decay_1d=False)
    for g in opt.param_groups:
        assert all((p.ndim >= 2) == (g["weight_decay"] == 1.0) for p in g["params"])
    assert opt.defaults["betas"] == (0.9, 0.98)


def test_optimizer_bad_input():
    model = build_model("tf-1layer", p=11)
    with pytest.raises(SpectralEdgeError):
        optim.make_optimizers(model, "adagrad")
    with pytest.raises(SpectralEdgeError):
        optim.make_optimizers(model, lr=0.0)


def test_warmup_cosine_values():
    f = optim.warmup_cosine
    assert f(0, 10, 110) == pytest.approx(0.1)
    assert f(4, 10, 110) == pytest.approx(0.5)
    assert f(9, 10, 110) == pytest.approx(1.0)
    assert f(10, 10, 110) == pytest.approx(1.0)
    assert f(60, 10, 110, 0.1) == pytest.approx(0.55)  # half-way: (1 + 0.1) / 2
    assert f(110, 10, 110, 0.1) == pytest.approx(0.1)
    assert f(500, 10, 110, 0.1) == pytest.approx(0.1)
    # TinyStories: warm-up 1,500, cosine to 10 % at 10k.
    assert f(1499, 1500, 10_000) == pytest.approx(1.0)
    assert f(5750, 1500, 10_000) == pytest.approx(0.55)
    assert f(0, 0, 100) == pytest.approx(1.0)


def test_schedulers_drive_the_lr():
    model = build_model("tf-1layer", p=11)
    opts = optim.make_optimizers(model, "muon", lr=2e-3)
    scheds = optim.make_schedulers(opts, "cosine", warmup_steps=4, total_steps=24)
    seen = []
    for _ in range(30):
        seen.append(optim.current_lr(opts))
        for o in opts:
            o.step()
        for s in scheds:
            s.step()
    expected = [2e-3 * optim.warmup_cosine(t, 4, 24) for t in range(30)]
    assert seen == pytest.approx(expected)
    assert all(o.param_groups[0]["lr"] == pytest.approx(2e-3 * 0.1) for o in opts)

    (opt,) = optim.make_optimizers(model, "adamw", lr=1e-3)
    (sched,) = optim.make_schedulers(opt, "constant", warmup_steps=2)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()  # no gradients: changes nothing, but keeps LambdaLR's order check quiet
        sched.step()
    assert lrs == pytest.approx([5e-4, 1e-3, 1e-3, 1e-3])


def test_schedule_bad_input():
    (opt,) = optim.make_optimizers(build_model("tf-1layer", p=11))
    with pytest.raises(SpectralEdgeError):
        optim.make_schedulers(opt, "cosine", warmup_steps=10, total_steps=10)
    with pytest.raises(SpectralEdgeError):
        optim.make_schedulers(opt, "linear")


def test_clip_gradients():
    w = nn.Parameter(torch.zeros(4))
    w.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])
    assert optim.clip_gradients([w], 1.0) == pytest.approx(5.0)
    assert w.grad.norm().item() == pytest.approx(1.0, rel=1e-5)
    w.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])
    assert optim.clip_gradients([w], None) == pytest.approx(5.0)
    assert w.grad.norm().item() == pytest.approx(5.0)
    assert optim.clip_gradients(nn.Linear(2, 2), 1.0) == 0.0  # no gradients yet


def _opt(lrs_sizes):
    groups = [{"params": [nn.Parameter(torch.zeros(n))], "lr": lr} for lr, n in lrs_sizes]
    return torch.optim.SGD(groups, lr=1.0)


def test_current_lr_policies():
    a = _opt([(1e-3, 10), (4e-3, 30)])
    b = _opt([(2e-3, 60)])
    both = [a, b]
    assert optim.current_lr(both, "first") == pytest.approx(1e-3)
    assert optim.current_lr(both, "max") == pytest.approx(4e-3)
    assert optim.current_lr(both, "mean") == pytest.approx(7e-3 / 3)
    weighted = (1e-3 * 10 + 4e-3 * 30 + 2e-3 * 60) / 100
    assert optim.current_lr(both, "weighted") == pytest.approx(weighted)
    assert optim.current_lr(b) == pytest.approx(2e-3)
    # Empty groups do not count.
    c = torch.optim.SGD(
        [{"params": [], "lr": 9.0}, {"params": [nn.Parameter(torch.zeros(1))]}], lr=0.5
    )
    assert optim.current_lr(c, "first") == 0.5
    with pytest.raises(SpectralEdgeError):
        optim.current_lr(both, "median")
    assert math.isfinite(optim.current_lr(both, "mean"))


def test_adam_weight_decay_is_coupled_l2_not_decoupled():
    """Adam adds ω·θ to the gradient before the adaptive scaling; AdamW shrinks θ by η·ω·θ.
    With a zero loss gradient the first Adam step moves every weight by ≈ η·sign(θ)
    (the normalised L2 gradient), the first AdamW step by η·ω·θ."""
    torch.manual_seed(0)
    lin = nn.Linear(4, 3, bias=False)
    theta = lin.weight.detach().clone()
    for name, expected in (
        ("adam", theta - 1e-2 * torch.sign(theta)),
        ("adamw", theta * (1 - 1e-2 * 0.5)),
    ):
        lin.weight.data.copy_(theta)
        (opt,) = optim.make_optimizers(lin, name, lr=1e-2, weight_decay=0.5)
        assert type(opt).__name__ == ("Adam" if name == "adam" else "AdamW")
        lin.weight.grad = torch.zeros_like(theta)
        opt.step()
        assert torch.allclose(lin.weight.detach(), expected, atol=1e-6), name
