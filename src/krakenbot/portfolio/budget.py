"""What the auction's opens may spend once its closes have run: the refreshed margin and the free slots.

The auction plans with the account as it was before the closes, counting the margin each close is
expected to free. Closes can fill in part, fill worse than planned, or be refused; so after them
the loop refreshes the account and the opens spend *that*, in plan order:

- an open whose margin fits is sent with the auction's size, unchanged;
- one that no longer fits is shrunk to the notional the remaining margin pays for (the
  RiskManager then rounds it down to the lot and refuses it below the instrument's minimum or
  ``min_notional_usd``);
- with no margin or no free slot left (``max_positions`` still taken because a close did not fill
  in full), it is skipped with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from krakenbot.config.models import RiskConfig
from krakenbot.domain.frozen import fast_init, new
from krakenbot.domain.signals import CandidateSignal
from krakenbot.domain.trading import AccountState

SHRINK_HEADROOM = 1e-9  # a shrunk notional stays this fraction under the budget: float round trips never exceed it


def margin_budget_usd(account: AccountState, cfg: RiskConfig) -> float:
    """The margin (USD) new positions may take: the available margin, within ``max_margin_utilization_pct``
    of equity less the initial margin in use (the smaller; ``min()`` written out, the same pick)."""
    available = account.available_margin_usd
    headroom = cfg.max_margin_utilization_pct * account.equity_usd - account.initial_margin_usd
    return headroom if headroom < available else available


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OpenFit:
    """How one planned open fits the refreshed budget: ``notional_usd`` to send (the auction's own
    when ``shrunk`` is False), or ``skip`` saying why nothing is sent."""

    notional_usd: float = 0.0
    shrunk: bool = False
    skip: str | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OpenBudget:
    """Margin (USD) and position slots the remaining opens may still use.

    An open is counted at its worst: filled at its IOC limit (``price_cap_pct`` over the mark, a
    fraction) and paying the taker fee (``taker_fee_pct``, a fraction of notional), so an open that
    fits the budget also fits the venue's own margin check.
    """

    margin_usd: float
    slots: int
    price_cap_pct: float = 0.0
    taker_fee_pct: float = 0.0

    @classmethod
    def refreshed(cls, account: AccountState, positions_held: int, cfg: RiskConfig, *, price_cap_pct: float = 0.0,
                  taker_fee_pct: float = 0.0) -> OpenBudget:
        """The budget after the closes: available margin, within ``max_margin_utilization_pct`` of
        equity (as the auction counts it), and the slots ``max_positions`` leaves free."""
        return _budget(margin_budget_usd(account, cfg), cfg.max_positions - positions_held, price_cap_pct,
                       taker_fee_pct)

    def cost_usd(self, notional_usd: float, leverage: float) -> float:
        """What an open of ``notional_usd`` at ``leverage`` takes from the budget at worst (USD)."""
        worst = notional_usd * (1 + self.price_cap_pct)
        return worst / leverage + worst * self.taker_fee_pct

    def fit(self, candidate: CandidateSignal) -> OpenFit:
        """Send ``candidate`` as planned, shrunk to the margin left, or not at all (with the reason)."""
        if self.slots <= 0:
            return OpenFit(skip="no free slot: max_positions is still taken (a close did not fill in full)")
        if not self.margin_usd > 0:
            return OpenFit(skip=f"no margin left: refreshed budget {self.margin_usd:,.2f} USD")
        fit = new(OpenFit)  # ``domain.frozen``: the same ``__init__`` and checks, no keyword dict
        if self.cost_usd(candidate.position_notional, candidate.leverage) <= self.margin_usd:
            OpenFit.__init__(fit, notional_usd=candidate.position_notional)
        else:
            notional = self.margin_usd / self.cost_usd(1.0, candidate.leverage) * (1 - SHRINK_HEADROOM)
            OpenFit.__init__(fit, notional_usd=notional, shrunk=True)
        return fit

    def spend(self, margin_usd: float) -> OpenBudget:
        """The budget after an open that took ``margin_usd`` (fees included) and a slot."""
        return _budget(self.margin_usd - margin_usd, self.slots - 1, self.price_cap_pct, self.taker_fee_pct)


def _budget(margin_usd: float, slots: int, price_cap_pct: float, taker_fee_pct: float) -> OpenBudget:
    """``OpenBudget(...)`` built without ``type.__call__``'s keyword dict (``domain.frozen``): once or more per
    auction with opens."""
    budget = new(OpenBudget)
    OpenBudget.__init__(budget, margin_usd=margin_usd, slots=slots, price_cap_pct=price_cap_pct,
                        taker_fee_pct=taker_fee_pct)
    return budget
