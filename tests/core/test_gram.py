"""RollingGram against an explicit float64 numpy X Xᵀ of the last W updates.

The reference is always rebuilt from scratch from the updates themselves (never from the
library's helpers), so an error in the incremental bookkeeping (slot reuse, ordering, the union
window, rejected updates) shows up as a mismatch.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from _numerics import gram_tol
from hypothesis import given, settings
from hypothesis import strategies as st

from spectral_edge import RollingGram
from spectral_edge.core.gram import as_flat_tensor, batch_gram, chunked_inner
from spectral_edge.errors import SpectralEdgeError


def ref_gram(rows) -> np.ndarray:
    """X Xᵀ in float64 from a list of 1-D float64 numpy vectors (oldest first)."""
    if len(rows) == 0:
        return np.zeros((0, 0))
    x = np.stack([np.asarray(r, dtype=np.float64) for r in rows])
    return x @ x.T


def close(got, ref, p: int):
    """Entry-wise closeness of Grams of p-vectors: both sides are float64 dots (float32 updates
    too: their products are exact in float64), each within p·u·‖a‖‖b‖ of the exact value
    (tests/_numerics.py), and ‖a‖‖b‖ ≤ the largest norm² in the window."""
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape
    scale = float(np.max(np.abs(np.diag(ref)))) if ref.size else 0.0
    np.testing.assert_allclose(got, ref, rtol=0, atol=gram_tol(p) * max(scale, 1e-300))


def as64(v) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        return v.detach().to(torch.float64).reshape(-1).numpy()
    return np.asarray(v, dtype=np.float64).reshape(-1)


# --------------------------------------------------------------------------------------------
# The incremental Gram equals the batch Gram for any push sequence


@st.composite
def push_sequences(draw):
    w = draw(st.integers(2, 12))
    p = draw(st.integers(1, 40))
    n = draw(st.integers(1, 3 * w + 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # Per-update scales spread over decades; some updates exactly zero, some repeated.
    rows = []
    for _ in range(n):
        kind = draw(st.sampled_from(["normal", "normal", "normal", "zero", "repeat", "tiny"]))
        if kind == "zero":
            rows.append(np.zeros(p))
        elif kind == "repeat" and rows:
            rows.append(rows[-1] * draw(st.sampled_from([1.0, -2.0, 0.5])))
        elif kind == "tiny":
            rows.append(rng.standard_normal(p) * 1e-6)
        else:
            rows.append(rng.standard_normal(p) * 10.0 ** rng.uniform(-3, 3))
    kinds = draw(
        st.lists(st.sampled_from(["numpy", "torch", "torch32", "parts"]), min_size=n, max_size=n)
    )
    return w, rows, kinds


def feed(rows_kind):
    """Turn a float64 row into the input form named by kind; returns (input, exact float64)."""
    row, kind = rows_kind
    if kind == "numpy":
        return row, row
    if kind == "torch":
        return torch.from_numpy(row.copy()), row
    if kind == "torch32":
        t = torch.from_numpy(row.copy()).to(torch.float32)
        return t, t.double().numpy()
    cut = len(row) // 2
    return [row[:cut].copy(), torch.from_numpy(row[cut:].copy())] if cut else [row], row


@settings(max_examples=60, deadline=None)
@given(push_sequences())
def test_incremental_gram_equals_batch_gram(case):
    w, rows, kinds = case
    rg = RollingGram(window=w)
    seen = []
    if kinds[0] == "torch32":
        # all pushes are then stored in float32: compare against float32-rounded values (the
        # float32 tolerance this test had before issue 13 hid that later rows were not rounded)
        rows = [np.float32(r).astype(np.float64) for r in rows]
    for i, (row, kind) in enumerate(zip(rows, kinds, strict=True)):
        # Mixing float32 and float64 pushes: the buffer dtype is fixed by the first push.
        if i > 0 and kind == "torch32":
            kind = "torch"
        update, exact = feed((row, kind))
        assert rg.push(update) is True
        seen.append(exact)
        expect = seen[-w:]
        assert rg.size == len(expect) == min(i + 1, w)
        g = rg.gram()
        assert g.dtype == np.float64 and g.shape == (len(expect), len(expect))
        assert np.array_equal(g, g.T)
        p = len(rows[0])
        close(g, ref_gram(expect), p)
        # union: the previous full window plus the new update
        u = rg.union_gram()
        if len(seen) >= w + 1:
            close(u, ref_gram(seen[-(w + 1) :]), p)
        else:
            assert u is None
        new_sq, old_sq, new_old = rg.last_transition()
        a = seen[-1]
        b = seen[-(w + 1)] if len(seen) >= w + 1 else np.zeros_like(a)
        scale = max(a @ a, b @ b, 1e-300)
        np.testing.assert_allclose(
            [new_sq, old_sq, new_old], [a @ a, b @ b, a @ b], rtol=0, atol=gram_tol(p) * scale
        )
    assert rg.pushes == len(rows)
    assert rg.rejected == 0
    assert rg.dim == len(rows[0])


@settings(max_examples=40, deadline=None)
@given(
    w=st.integers(2, 8),
    pattern=st.lists(
        st.sampled_from(["ok", "ok", "nan", "inf", "-inf", "nan_all"]), min_size=1, max_size=30
    ),
    seed=st.integers(0, 2**16),
)
def test_nonfinite_updates_are_rejected_and_never_poison_later_windows(w, pattern, seed):
    rng = np.random.default_rng(seed)
    p = 17
    rg = RollingGram(window=w)
    good = []
    rejected = 0
    for kind in pattern:
        row = rng.standard_normal(p)
        if kind != "ok":
            before = (rg.gram(), rg.union_gram(), rg.size, rg.pushes)
            bad = row.copy()
            if kind == "nan_all":
                bad[:] = np.nan
            else:
                bad[rng.integers(p)] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[kind]
            assert rg.push(bad) is False
            rejected += 1
            after = (rg.gram(), rg.union_gram(), rg.size, rg.pushes)
            assert np.array_equal(before[0], after[0])
            assert (before[1] is None and after[1] is None) or np.array_equal(before[1], after[1])
            assert before[2:] == after[2:]
            continue
        assert rg.push(row) is True
        good.append(row)
        g = rg.gram()
        assert np.all(np.isfinite(g))
        close(g, ref_gram(good[-w:]), p)
        if len(good) >= w + 1:
            close(rg.union_gram(), ref_gram(good[-(w + 1) :]), p)
            a, b = good[-1], good[-(w + 1)]
            scale = max(a @ a, b @ b)
            np.testing.assert_allclose(
                rg.last_transition(), [a @ a, b @ b, a @ b], rtol=0, atol=gram_tol(p) * scale
            )
    assert rg.rejected == rejected
    assert rg.pushes == len(good)


def test_float32_updates_whose_squares_overflow_float32_are_exact_in_float64():
    """Products are float64, so a float32 update of 1e30s (‖δ‖² = 8e60, far beyond float32's
    3.4e38) is an ordinary update; only a float64 overflow rejects one."""
    rg = RollingGram(window=3)
    rg.push(np.ones(8, dtype=np.float32))
    huge = np.full(8, 1e30, dtype=np.float32)
    assert rg.push(huge) is True
    h = float(np.float32(1e30))  # the stored value, widened exactly
    np.testing.assert_array_equal(rg.gram(), [[8.0, 8 * h], [8 * h, 8 * h * h]])


def test_update_whose_square_overflows_float64_is_rejected():
    rg = RollingGram(window=3)
    rg.push(np.ones(8))
    assert rg.push(np.full(8, 1e200)) is False  # ‖δ‖² = 8e400
    assert rg.size == 1 and rg.rejected == 1
    assert rg.push(np.full(8, 2.0)) is True
    close(rg.gram(), [[8.0, 16.0], [16.0, 32.0]], 8)


def test_fewer_than_w_updates_give_a_smaller_gram():
    rg = RollingGram(window=5)
    assert rg.size == 0 and rg.dim is None
    assert rg.gram().shape == (0, 0)
    assert rg.union_gram() is None
    rows = np.random.default_rng(1).standard_normal((7, 30))
    for i, r in enumerate(rows):
        rg.push(r)
        assert rg.gram().shape == (min(i + 1, 5),) * 2
    close(rg.gram(), ref_gram(rows[-5:]), 30)


def test_doc_example_diagonal_is_oldest_first():
    rg = RollingGram(window=3)
    for v in np.eye(4) * np.array([1.0, 2.0, 3.0, 4.0])[:, None]:
        rg.push(v)
    assert rg.gram().diagonal().tolist() == [4.0, 9.0, 16.0]


def test_gram_returns_a_copy():
    rg = RollingGram(window=3)
    rg.push(np.ones(4))
    g = rg.gram()
    g[0, 0] = 123.0
    assert rg.gram()[0, 0] == 4.0


# --------------------------------------------------------------------------------------------
# Input forms and dtypes


@pytest.mark.parametrize(
    "dtype, source",
    [
        (torch.float16, "torch"),
        (torch.float16, "numpy"),
        (torch.bfloat16, "torch"),  # numpy has no bfloat16
        (torch.float32, "torch"),
        (torch.float32, "numpy"),
        (torch.float64, "torch"),
        (torch.float64, "numpy"),
    ],
    ids=str,
)
def test_dtypes_and_sources(dtype, source):
    rng = np.random.default_rng(3)
    w = 4
    rg = RollingGram(window=w)
    exact = []
    for _ in range(7):
        t = torch.from_numpy(rng.standard_normal(300)).to(dtype)
        exact.append(t.double().numpy())  # the values actually pushed, widened exactly
        rg.push(t if source == "torch" else t.numpy())
    want = torch.float64 if dtype == torch.float64 else torch.float32
    assert rg._buffer.dtype == want
    # Half inputs are widened exactly, and every product is float64: the Gram of the values
    # pushed, to float64 round-off, whatever the dtype.
    close(rg.gram(), ref_gram(exact[-w:]), 300)
    close(rg.union_gram(), ref_gram(exact[-(w + 1) :]), 300)


def test_multidimensional_and_noncontiguous_inputs_are_flattened():
    rng = np.random.default_rng(4)
    mats = [rng.standard_normal((6, 5)) for _ in range(4)]
    rg = RollingGram(window=3)
    for m in mats:
        rg.push(torch.from_numpy(m).T)  # non-contiguous view, flattened in its own order
    close(rg.gram(), ref_gram([m.T.reshape(-1) for m in mats[-3:]]), 30)


def test_a_list_of_parts_equals_the_concatenation():
    rng = np.random.default_rng(5)
    whole, parts = RollingGram(window=3), RollingGram(window=3)
    for _ in range(6):
        a, b, c = rng.standard_normal(5), rng.standard_normal((2, 3)), rng.standard_normal(7)
        whole.push(np.concatenate([a, b.reshape(-1), c]))
        parts.push([torch.from_numpy(a), b, (c,)[0]])
    close(parts.gram(), whole.gram(), 18)
    close(parts.union_gram(), whole.union_gram(), 18)
    t = as_flat_tensor((np.ones(2), torch.zeros(3)))
    assert t.tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]


def test_bad_update_types_raise():
    rg = RollingGram(window=2)
    with pytest.raises(SpectralEdgeError, match="floating"):
        rg.push(np.arange(5))
    with pytest.raises(SpectralEdgeError, match="floating"):
        rg.push(torch.arange(5))
    with pytest.raises(SpectralEdgeError, match="empty"):
        rg.push([])
    with pytest.raises(SpectralEdgeError, match="numpy array or a torch tensor"):
        rg.push(3.0)
    assert rg.size == 0


# --------------------------------------------------------------------------------------------
# stage / accumulate_inner / commit


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stage_accumulate_commit_equals_push(dtype):
    rng = np.random.default_rng(6)
    sizes = [7, 1, 20, 5]
    p = sum(sizes)
    pushed, staged = RollingGram(window=3), RollingGram(window=3)
    for i in range(8):
        row = rng.standard_normal(p).astype(dtype)
        pushed.push(row)
        slot = staged.stage(p, torch.from_numpy(row).dtype, "cpu")
        start = 0
        for n in sizes:
            slot[start : start + n].copy_(torch.from_numpy(row[start : start + n]))
            staged.accumulate_inner(start, start + n)
            start += n
        if i == 4:  # the plain commit (no accumulate) path is also equal
            staged._partial = None
        assert staged.commit() is True
        # the same float64 products, summed in other blocks
        close(staged.gram(), pushed.gram(), p)
        if pushed.union_gram() is not None:
            close(staged.union_gram(), pushed.union_gram(), p)
        scale = float(
            np.max(
                np.diag(pushed.union_gram() if pushed.union_gram() is not None else pushed.gram())
            )
        )
        np.testing.assert_allclose(
            staged.last_transition(), pushed.last_transition(), rtol=0, atol=gram_tol(p) * scale
        )


def test_stage_then_commit_without_accumulate_uses_a_full_pass():
    rg = RollingGram(window=2)
    slot = rg.stage(4, torch.float64, "cpu")
    slot.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert rg.commit()
    assert rg.gram().tolist() == [[30.0]]


def test_staged_nonfinite_update_is_rejected():
    rg = RollingGram(window=3)
    rg.push(np.ones(4))
    slot = rg.stage(4, torch.float64, "cpu")
    slot.copy_(torch.tensor([1.0, np.nan, 0.0, 0.0]))
    rg.accumulate_inner(0, 2)
    rg.accumulate_inner(2, 4)
    assert rg.commit() is False
    assert rg.gram().tolist() == [[4.0]]
    rg.push(np.full(4, 2.0))
    close(rg.gram(), [[4.0, 8.0], [8.0, 16.0]], 4)


# --------------------------------------------------------------------------------------------
# Errors


def test_shape_change_raises_and_leaves_the_window_unchanged():
    rg = RollingGram(window=3)
    rg.push(np.ones(5))
    rg.push(np.arange(5.0))
    before = rg.gram()
    with pytest.raises(SpectralEdgeError, match="6 entries.*5"):
        rg.push(np.ones(6))
    with pytest.raises(SpectralEdgeError, match="reshaped"):
        rg.stage(4, torch.float64, "cpu")
    assert np.array_equal(rg.gram(), before)
    rg.push(np.ones(5))
    assert rg.size == 3


@pytest.mark.parametrize("window", [1, 0, -3, 2.0, "10", None])
def test_window_below_two_or_not_an_integer_raises(window):
    with pytest.raises(SpectralEdgeError, match="window"):
        RollingGram(window=window)


def test_window_accepts_numpy_integers():
    assert RollingGram(window=np.int64(4)).window == 4


# --------------------------------------------------------------------------------------------
# Resume


def _roundtrip(state: dict) -> dict:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


@pytest.mark.parametrize("n_before", [0, 1, 3, 4, 5, 11])
@pytest.mark.parametrize("sketch_dim", [None, 16])
def test_state_dict_resumes_bit_identically(n_before, sketch_dim):
    rng = np.random.default_rng(7 + n_before)
    rows = [rng.standard_normal(50).astype(np.float32) for _ in range(n_before + 9)]
    rows[n_before + 2][3] = np.nan  # a rejection after the resume, on both
    a = RollingGram(window=4, sketch_dim=sketch_dim, seed=3)
    for r in rows[:n_before]:
        a.push(r)
    state = _roundtrip(a.state_dict())
    b = RollingGram(window=4, sketch_dim=sketch_dim, seed=3)
    b.load_state_dict(state)
    assert np.array_equal(a.gram(), b.gram())
    for r in rows[n_before:]:
        assert a.push(r) == b.push(r)
        assert np.array_equal(a.gram(), b.gram())
        ua, ub = a.union_gram(), b.union_gram()
        assert (ua is None and ub is None) or np.array_equal(ua, ub)
        assert a.last_transition() == b.last_transition()
    assert (a.pushes, a.rejected, a.size) == (b.pushes, b.rejected, b.size)


def test_state_dict_is_a_snapshot_not_a_view():
    rg = RollingGram(window=3)
    rg.push(np.ones(4))
    state = rg.state_dict()
    rg.push(np.full(4, 5.0))
    other = RollingGram(window=3)
    other.load_state_dict(state)
    assert other.gram().tolist() == [[4.0]]


def test_load_state_dict_rejects_other_window_or_sketch():
    rg = RollingGram(window=3)
    rg.push(np.ones(4))
    with pytest.raises(SpectralEdgeError, match="window 3"):
        RollingGram(window=4).load_state_dict(rg.state_dict())
    with pytest.raises(SpectralEdgeError, match="sketch"):
        RollingGram(window=3, sketch_dim=8).load_state_dict(rg.state_dict())
    sk = RollingGram(window=3, sketch_dim=8, seed=1)
    with pytest.raises(SpectralEdgeError, match="sketch"):
        RollingGram(window=3, sketch_dim=8, seed=2).load_state_dict(sk.state_dict())


# --------------------------------------------------------------------------------------------
# chunked_inner and batch_gram


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_chunked_inner_equals_mv(chunk, dtype):
    g = torch.Generator().manual_seed(chunk)
    rows = torch.randn(5, 203, generator=g, dtype=torch.float64)
    vec = torch.randn(203, generator=g, dtype=torch.float64)
    got = chunked_inner(rows.to(dtype), vec.to(dtype), chunk=chunk)
    assert got.dtype == np.float64 and got.shape == (5,)
    ref = (rows.to(dtype).double() @ vec.to(dtype).double()).numpy()
    # exact float64 products for both dtypes: the dot bound, p·u·‖row‖‖vec‖ (tests/_numerics.py)
    norms = torch.linalg.vector_norm(rows.to(dtype).double(), dim=1) * vec.to(dtype).double().norm()
    np.testing.assert_array_less(np.abs(got - ref), gram_tol(203) * norms.numpy() + 1e-300)
    if dtype == torch.float64:
        np.testing.assert_array_less(
            np.abs(got - torch.mv(rows, vec).numpy()), gram_tol(203) * norms.numpy() + 1e-300
        )


def test_batch_gram_matches_numpy_for_mixed_inputs():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 9))
    got = batch_gram([x[0], torch.from_numpy(x[1]), x[2].astype(np.float32), [x[3][:4], x[3][4:]]])
    ref = x.copy()
    ref[2] = x[2].astype(np.float32)
    np.testing.assert_allclose(
        got, ref @ ref.T, rtol=0, atol=gram_tol(9) * np.max(np.diag(ref @ ref.T))
    )


def test_slots_not_yet_written_are_never_read():
    """The buffer is allocated uninitialised; garbage (here NaN) in unwritten slots must not reach
    the Gram, on either commit path (in-place staging and push)."""
    rng = np.random.default_rng(3)
    updates = [rng.standard_normal(50) for _ in range(6)]
    for staged in (True, False):
        rg = RollingGram(4)
        for i, u in enumerate(updates):
            if staged:
                slot = rg.stage(u.size, torch.float64, "cpu")
                if i == 0:
                    rg._buffer.fill_(float("nan"))  # what torch.empty may hand back
                slot.copy_(torch.from_numpy(u))
                rg.accumulate_inner(0, u.size)
                assert rg.commit()
            else:
                if i == 1:
                    rg._buffer[1:].fill_(float("nan"))
                assert rg.push(u)
            expected = np.stack(updates[max(0, i - 3) : i + 1])
            close(rg.gram(), expected @ expected.T, 50)
