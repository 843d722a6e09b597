"""Portfolio policy: the auction between candidates and held positions (pure; see ``auction``)."""

from krakenbot.portfolio.auction import AuctionAllocator, build_candidates
from krakenbot.portfolio.plan import AllocationPlan, CloseReason, Keep, PlannedClose, Rejection, RejectReason

__all__ = ["AllocationPlan", "AuctionAllocator", "CloseReason", "Keep", "PlannedClose", "RejectReason", "Rejection",
           "build_candidates"]
