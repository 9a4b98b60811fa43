"""Class coverage (`genzoo.metrics.coverage.class_coverage`): hand-computed histograms, shares and entropies."""

import math

import numpy as np
import pytest
import torch

from genzoo.errors import GenzooError
from genzoo.metrics.coverage import class_coverage


def one_hot_logits(labels: list[int], num_classes: int, confidence: float = 20.0) -> torch.Tensor:
    """Logits whose top class is `labels[i]`, with a margin that makes the softmax almost one-hot."""
    logits = torch.zeros(len(labels), num_classes)
    logits[torch.arange(len(labels)), torch.tensor(labels)] = confidence
    return logits


def test_an_even_spread_has_entropy_one_and_the_uniform_minimum_share():
    result = class_coverage(one_hot_logits(list(range(10)) * 3, 10))
    assert result["class_counts"] == [3] * 10
    assert result["class_shares"] == pytest.approx([0.1] * 10)
    assert result["coverage_min_share"] == pytest.approx(0.1)
    assert result["coverage_entropy"] == pytest.approx(1.0)
    assert result["coverage_classes"] == 10
    assert result["mean_top_probability"] == pytest.approx(1.0, abs=1e-6)


def test_a_collapsed_generator_has_entropy_zero_and_misses_classes():
    result = class_coverage(one_hot_logits([8] * 50, 10))
    assert result["class_counts"] == [0] * 8 + [50, 0]
    assert result["coverage_min_share"] == 0.0
    assert result["coverage_entropy"] == 0.0
    assert result["coverage_classes"] == 1


def test_an_uneven_histogram_matches_the_hand_computed_entropy():
    labels = [0, 0, 0, 0, 0, 0, 1, 1, 1, 2]  # shares 0.6, 0.3, 0.1, 0
    result = class_coverage(one_hot_logits(labels, 4))
    assert result["class_counts"] == [6, 3, 1, 0]
    assert result["coverage_min_share"] == 0.0
    entropy = -(0.6 * math.log(0.6) + 0.3 * math.log(0.3) + 0.1 * math.log(0.1)) / math.log(4)
    assert result["coverage_entropy"] == pytest.approx(entropy)
    assert result["coverage_classes"] == 3


def test_the_mean_top_probability_is_the_mean_softmax_maximum():
    logits = np.array([[0.0, 0.0], [math.log(3.0), 0.0]])  # softmax maxima 0.5 and 0.75
    result = class_coverage(logits)
    assert result["class_counts"] == [2, 0]  # a tie goes to the first class, as argmax does
    assert result["mean_top_probability"] == pytest.approx(0.625)


@pytest.mark.parametrize("shape", [(0, 10), (5,), (5, 1), (2, 3, 4)])
def test_logits_of_the_wrong_shape_are_refused_in_one_line(shape):
    with pytest.raises(GenzooError, match="Class coverage needs logits of shape"):
        class_coverage(torch.zeros(shape))
