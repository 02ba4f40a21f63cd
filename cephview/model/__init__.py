"""Landmark model: network, heatmaps, coordinate transforms, training, prediction (torch, no Qt)."""
