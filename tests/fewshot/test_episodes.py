"""Episodes: sampler statistics, reproducibility, flat and ragged datasets, and every bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hyperfunc.fewshot import EpisodeBatch, Episodes

# Upper 1e-6 quantiles of the chi-square distribution (scipy.stats.chi2.ppf(1 - 1e-6, df)).
# Class counts over episodes drawn without replacement vary *less* than a multinomial's,
# so comparing their Pearson statistic to these values errs on the side of passing; a
# biased sampler still fails by a wide margin (see test_uniformity_check_can_fail).
CHI2_1E6 = {11: 48.87, 119: 207.2}


def coded(classes: int, per_class: int, shape: tuple[int, ...] = (1, 2, 2)) -> torch.Tensor:
    """images[c, m] is filled with the number 1000 c + m, so every example says who it is."""
    ids = torch.arange(classes)[:, None] * 1000 + torch.arange(per_class)
    return ids.reshape(classes, per_class, *([1] * len(shape))).expand(classes, per_class, *shape).double()


def ids(x: torch.Tensor) -> torch.Tensor:
    """The 1000 c + m code of each example of x [B, S, ...] -> [B, S]."""
    flat = x.flatten(2)
    assert bool((flat == flat[..., :1]).all()), "an example was mixed up with another"
    return flat[..., 0].long()


def pearson(counts: torch.Tensor, expected: float) -> float:
    return float(((counts.double() - expected) ** 2 / expected).sum())


def _dense(code: torch.Tensor, per_class: int) -> torch.Tensor:
    """1000 c + m -> c * per_class + m."""
    return code // 1000 * per_class + code % 1000


def _label_of(x: torch.Tensor) -> torch.Tensor:
    """The label a from_labels test example carries: x = 10 label + m / 10."""
    return torch.div(x[..., 0], 10, rounding_mode="floor").long()


def test_every_episode_is_a_valid_n_way_k_shot_q_query_task() -> None:
    n, k, q, b = 5, 3, 4, 30
    episodes = Episodes(coded(12, 10), n_way=n, k_shot=k, q_query=q, batch_size=b, seed=1)
    for batch in itertools.islice(episodes, 5):
        assert batch.n_way == n and batch.classes is not None
        assert torch.equal(batch.y_support, torch.arange(n).repeat_interleave(k).repeat(b, 1))
        assert torch.equal(batch.y_query, torch.arange(n).repeat_interleave(q).repeat(b, 1))
        assert batch.y_support.dtype == torch.int64
        s, qu = ids(batch.x_support), ids(batch.x_query)
        for e in range(b):
            classes = batch.classes[e]
            assert len(set(classes.tolist())) == n  # N distinct classes
            # every label means the same class in support, query and `classes`
            assert torch.equal(s[e] // 1000, classes[batch.y_support[e]])
            assert torch.equal(qu[e] // 1000, classes[batch.y_query[e]])
            for label in range(n):  # exactly K support and Q query examples per class
                assert int((batch.y_support[e] == label).sum()) == k
                assert int((batch.y_query[e] == label).sum()) == q
            used = s[e].tolist() + qu[e].tolist()
            assert len(set(used)) == n * (k + q)  # support and query disjoint, no repeats


def test_classes_and_examples_are_drawn_uniformly() -> None:
    c, m, n, k, q, b = 12, 10, 5, 2, 3, 100
    episodes = Episodes(coded(c, m), n_way=n, k_shot=k, q_query=q, batch_size=b, seed=7)
    class_counts = torch.zeros(c)
    label0 = torch.zeros(c)  # how often each class gets local label 0
    example_counts = torch.zeros(c * m)
    support_counts = torch.zeros(c * m)
    batches = 20
    for batch in itertools.islice(episodes, batches):
        assert batch.classes is not None
        class_counts += torch.bincount(batch.classes.flatten(), minlength=c)
        label0 += torch.bincount(batch.classes[:, 0], minlength=c)
        s, qu = ids(batch.x_support), ids(batch.x_query)
        support_counts += torch.bincount(_dense(s, m).flatten(), minlength=c * m)
        both = torch.cat([_dense(s, m), _dense(qu, m)], 1)
        example_counts += torch.bincount(both.flatten(), minlength=c * m)
    total = batches * b
    assert pearson(class_counts, total * n / c) < CHI2_1E6[11]
    assert pearson(label0, total / c) < CHI2_1E6[11]
    assert pearson(example_counts, total * n * (k + q) / (c * m)) < CHI2_1E6[119]
    # each drawn example lands in the support set with probability K / (K + Q)
    frac = float(support_counts.sum() / example_counts.sum())
    assert abs(frac - k / (k + q)) < 0.01
    assert bool(((support_counts / example_counts - k / (k + q)).abs() < 0.2).all())


def test_uniformity_check_can_fail() -> None:
    # An off-by-one sampler that never draws the last class is rejected by the same check.
    c, n, total = 12, 5, 2000
    g = torch.Generator().manual_seed(0)
    chosen = torch.rand(total, c - 1, generator=g).topk(n, dim=1).indices
    counts = torch.bincount(chosen.flatten(), minlength=c)
    assert pearson(counts, total * n / c) > CHI2_1E6[11]


def test_same_seed_same_episodes_other_seed_other_episodes() -> None:
    images = coded(10, 8)
    a = Episodes(images, n_way=4, k_shot=2, q_query=3, batch_size=6, seed=3)
    b = Episodes(images.clone(), n_way=4, k_shot=2, q_query=3, batch_size=6, seed=3)
    other = Episodes(images, n_way=4, k_shot=2, q_query=3, batch_size=6, seed=4)
    for i in (0, 1, 17):
        x, y = a.batch(i), b.batch(i)
        assert torch.equal(x.x_support, y.x_support) and torch.equal(x.x_query, y.x_query)
        assert x.classes is not None and y.classes is not None and torch.equal(x.classes, y.classes)
        assert not torch.equal(x.x_query, other.batch(i).x_query)
    assert not torch.equal(a.batch(0).x_query, a.batch(1).x_query)
    # batch i does not depend on which batches were drawn before it
    later = a.batch(5).x_query
    fresh = Episodes(images, n_way=4, k_shot=2, q_query=3, batch_size=6, seed=3)
    assert torch.equal(fresh.batch(5).x_query, later)
    first_two = [e.x_query for e in itertools.islice(a, 2)]
    assert torch.equal(first_two[0], a.batch(0).x_query) and torch.equal(first_two[1], a.batch(1).x_query)


def test_global_random_state_is_untouched() -> None:
    torch.manual_seed(123)
    np.random.seed(5)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state(legacy=True)
    episodes = Episodes(coded(10, 8), n_way=4, k_shot=2, q_query=3, batch_size=6, seed=3)
    for batch in itertools.islice(episodes, 3):
        assert batch.num_tasks == 6
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state(legacy=True)
    assert isinstance(after, tuple) and isinstance(np_state, tuple)
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]


def test_numpy_input_and_dtype_are_kept() -> None:
    images = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    images.flags.writeable = False  # np.load can return read-only arrays
    batch = Episodes(images, n_way=2, k_shot=1, q_query=2, batch_size=3).batch(0)
    assert batch.x_support.dtype == torch.uint8 and batch.example_shape == (3,)


def test_from_labels_keeps_any_integer_labels() -> None:
    rng = np.random.default_rng(0)
    labels = np.array([7, -3, 100, 42])
    y = np.repeat(labels, 6)
    x = torch.from_numpy(y.astype(np.float64) * 10)[:, None] + torch.arange(6).repeat(4)[:, None] / 10
    perm = torch.from_numpy(rng.permutation(len(y)))
    episodes = Episodes.from_labels(
        x[perm], torch.from_numpy(y)[perm], n_way=3, k_shot=2, q_query=3, batch_size=20
    )
    assert episodes.num_classes == 4 and episodes.example_shape == (1,)
    batch = episodes.batch(2)
    assert batch.classes is not None and set(batch.classes.flatten().tolist()) <= set(labels.tolist())
    for e in range(20):
        assert torch.equal(_label_of(batch.x_support[e]), batch.classes[e][batch.y_support[e]])
        assert torch.equal(_label_of(batch.x_query[e]), batch.classes[e][batch.y_query[e]])


def test_classes_of_different_sizes() -> None:
    sizes = [3, 8, 5, 10]
    parts = [coded(1, s)[0] + 1000 * c for c, s in enumerate(sizes)]
    episodes = Episodes(parts, n_way=4, k_shot=1, q_query=2, batch_size=200, seed=0)
    batch = episodes.batch(0)
    assert batch.classes is not None
    codes = torch.cat([ids(batch.x_support), ids(batch.x_query)], 1)
    assert torch.equal(codes // 1000, torch.cat([batch.classes[:, batch.y_support[0]],
                                                 batch.classes[:, batch.y_query[0]]], 1))
    seen: dict[int, set[int]] = {c: set() for c in range(4)}
    for code in codes.flatten().tolist():
        seen[code // 1000].add(code % 1000)
    assert all(seen[c] == set(range(s)) for c, s in enumerate(sizes))  # all drawn, none beyond
    assert all(len(set(row.tolist())) == 12 for row in codes)


def test_replace_shares_the_data_and_checks_again() -> None:
    images = coded(10, 8)
    episodes = Episodes(images, n_way=4, k_shot=2, q_query=3, batch_size=6, seed=3)
    test = episodes.replace(seed=9, n_way=10, q_query=1)
    assert (test.n_way, test.k_shot, test.q_query, test.seed, test.batch_size) == (10, 2, 1, 9, 6)
    assert test.batch(0).x_query.shape == (6, 10, 1, 2, 2)
    with pytest.raises(ValueError, match="n_way=11 but dataset 'episodes' has only 10 classes"):
        episodes.replace(n_way=11)
    with pytest.raises(TypeError, match="unexpected keyword argument 'shots'"):
        episodes.replace(shots=3)  # type: ignore[call-arg]
    assert episodes.n_way == 4 and episodes.batch(0).x_support.shape == (6, 8, 1, 2, 2)
    assert "4-way 2-shot 3-query" in repr(episodes) and "10 classes" in repr(episodes)


def test_batch_to_device_and_properties() -> None:
    batch = Episodes(coded(5, 4), n_way=2, k_shot=1, q_query=1, batch_size=3).batch(0)
    moved = batch.to("cpu")
    assert torch.equal(moved.x_query, batch.x_query) and moved.n_way == 2
    assert batch.num_tasks == 3 and batch.example_shape == (1, 2, 2)


# ------------------------------------------------------------------ bad input
def test_more_shots_than_examples() -> None:
    with pytest.raises(
        ValueError,
        match=r"k_shot \+ q_query = 5 \+ 4 = 9 examples per class are needed, but class 0 has only 6 .*"
        r"choose k_shot \+ q_query <= 6",
    ):
        Episodes(coded(10, 6), n_way=3, k_shot=5, q_query=4)
    with pytest.raises(ValueError, match=r"but class 42 has only 2 \(the smallest class"):
        y = torch.tensor([1] * 10 + [42] * 2)
        Episodes.from_labels(torch.zeros(12, 1), y, n_way=2, k_shot=1, q_query=2)


def test_more_ways_than_classes() -> None:
    with pytest.raises(ValueError, match=r"n_way=6 but dataset 'tiny' has only 5 classes; choose n_way <= 5"):
        Episodes(coded(5, 6), n_way=6, k_shot=1, q_query=1, name="tiny")


def test_empty_dataset() -> None:
    for images in (torch.zeros(0, 5, 3), torch.zeros(4, 0, 3)):
        with pytest.raises(ValueError, match="empty dataset 'episodes'"):
            Episodes(images)
    with pytest.raises(ValueError, match="empty dataset 'episodes': images has no classes"):
        Episodes([])
    with pytest.raises(ValueError, match="empty dataset 'episodes': x and y have no examples"):
        Episodes.from_labels(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))


def test_non_positive_and_non_integer_sizes() -> None:
    images = coded(6, 6)
    with pytest.raises(ValueError, match=r"sizes must be positive ints \(>= 1\); got n_way=0, k_shot=-1"):
        Episodes(images, n_way=0, k_shot=-1)
    with pytest.raises(ValueError, match="got batch_size=0"):
        Episodes(images, batch_size=0)
    with pytest.raises(TypeError, match=r"got k_shot=1.5 \(float\), q_query=True \(bool\)"):
        Episodes(images, k_shot=1.5, q_query=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        Episodes(images, seed=-1)
    with pytest.raises(ValueError, match="the batch index must be a non-negative int, got -2"):
        Episodes(images, n_way=2, k_shot=1, q_query=1).batch(-2)


def test_mismatched_shapes() -> None:
    with pytest.raises(
        ValueError,
        match=r"class 0 has examples of shape \(1, 2, 2\) .*but class 2 has examples of shape \(1, 3, 3\); "
        r"class 3 has examples of shape \(2, 2\)",
    ):
        Episodes([torch.zeros(4, 1, 2, 2), torch.zeros(5, 1, 2, 2), torch.zeros(4, 1, 3, 3),
                  torch.zeros(4, 2, 2)])
    with pytest.raises(ValueError, match=r"class 1 is torch.float64"):
        Episodes([torch.zeros(4, 3), torch.zeros(4, 3, dtype=torch.float64)])
    with pytest.raises(ValueError, match=r"x has 10 examples but y has 9 labels"):
        Episodes.from_labels(torch.zeros(10, 3), torch.zeros(9, dtype=torch.long))
    with pytest.raises(ValueError, match=r"y must be a 1-D tensor of labels \[examples\], got shape \(10, 1"):
        Episodes.from_labels(torch.zeros(10, 3), torch.zeros(10, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="y must hold integer labels, got dtype torch.float32"):
        Episodes.from_labels(torch.zeros(10, 3), torch.zeros(10))
    with pytest.raises(ValueError, match=r"images must be one tensor \[classes, examples_per_class"):
        Episodes(torch.zeros(10))
    with pytest.raises(TypeError, match="images must be one tensor"):
        Episodes(3)  # type: ignore[arg-type]


def test_hand_built_batch_reports_every_problem() -> None:
    long = torch.long
    with pytest.raises(ValueError) as info:
        EpisodeBatch(
            torch.zeros(4, 10, 3), torch.zeros(4, 9, dtype=long),
            torch.zeros(5, 6, 2), torch.zeros(5, 6),
            n_way=2, classes=torch.zeros(4, 3, dtype=long),
        )  # fmt: skip
    msg = str(info.value)
    for part in (
        "x_support has shape (4, 10, 3) but y_support has shape (4, 9)",
        "y_query has dtype torch.float32, expected torch.int64",
        "support has 4 tasks but query has 5",
        "support examples are (3,) but query examples (2,)",
        "classes has shape (4, 3), expected [tasks, n_way] = [4, 2]",
    ):
        assert part in msg
    with pytest.raises(ValueError, match="n_way must be a positive int, got 0"):
        EpisodeBatch(torch.zeros(1, 2), torch.zeros(1, 2, dtype=long), torch.zeros(1, 2),
                     torch.zeros(1, 2, dtype=long), n_way=0)


# --------------------------------------------------------------- properties
@given(
    n=st.integers(1, 6), k=st.integers(1, 4), q=st.integers(1, 4), b=st.integers(1, 5),
    extra_classes=st.integers(0, 3), extra_examples=st.integers(0, 3), seed=st.integers(0, 2**40),
)  # fmt: skip
def test_shapes_for_any_sizes(
    n: int, k: int, q: int, b: int, extra_classes: int, extra_examples: int, seed: int
) -> None:
    images = coded(n + extra_classes, k + q + extra_examples, shape=(3,))
    batch = Episodes(images, n_way=n, k_shot=k, q_query=q, batch_size=b, seed=seed).batch(seed % 7)
    assert batch.x_support.shape == (b, n * k, 3) and batch.y_support.shape == (b, n * k)
    assert batch.x_query.shape == (b, n * q, 3) and batch.y_query.shape == (b, n * q)
    assert batch.classes is not None and batch.classes.shape == (b, n)
    assert int(batch.y_support.max()) == n - 1 and int(batch.y_query.min()) == 0
    codes = torch.cat([ids(batch.x_support), ids(batch.x_query)], 1)
    assert all(len(set(row.tolist())) == n * (k + q) for row in codes)


@given(
    n=st.integers(1, 8), k=st.integers(1, 5), q=st.integers(1, 5), c=st.integers(1, 6), m=st.integers(1, 8)
)
def test_impossible_sizes_always_raise(n: int, k: int, q: int, c: int, m: int) -> None:
    images = coded(c, m, shape=(1,))
    if n > c or k + q > m:
        with pytest.raises(ValueError, match=r"n_way=|k_shot \+ q_query"):
            Episodes(images, n_way=n, k_shot=k, q_query=q)
    else:
        assert Episodes(images, n_way=n, k_shot=k, q_query=q, batch_size=2).batch(0).num_tasks == 2
