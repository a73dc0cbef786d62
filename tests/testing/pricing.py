"""An activity module that workflows call through (``pricing.list_price``)."""

from __future__ import annotations


async def list_price(sku: str) -> float:
    return 100.0
