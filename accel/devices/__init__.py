"""Per-kind cost models (see ``accel/devices/base.py``)."""

from accel.devices.base import CostModel, OpCost, cost_model_for, register_cost_model

__all__ = ["CostModel", "OpCost", "cost_model_for", "register_cost_model"]
