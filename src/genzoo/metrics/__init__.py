"""Evaluation: metrics and feature extractors."""

from .mnist_classifier import MNISTClassifier, load_mnist_classifier

__all__ = ["MNISTClassifier", "load_mnist_classifier"]
