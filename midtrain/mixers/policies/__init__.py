"""Adaptive mixing policies fed by all-reduced per-domain (loss_sum, token_count) vectors."""

from midtrain.mixers.policies.base import AdaptivePolicy
from midtrain.mixers.policies.doremi import DoReMiPolicy
from midtrain.mixers.policies.exp3 import Exp3Policy

__all__ = ["AdaptivePolicy", "DoReMiPolicy", "Exp3Policy"]
