"""Event payload contracts, one module per producing service. Importing this registers all."""

from kernel.contracts import credit, inspection, insurance, permits

__all__ = ["credit", "inspection", "insurance", "permits"]
