"""The simulator serves Gamma (`/gamma/markets`, `/gamma/events`, VENUE §5) for every market
shape as the recorded Gamma payloads show them: a series winner and its map winners
(`sportsMarketType` moneyline / child_moneyline, `negRisk: false`) and a neg-risk event (one
Yes/No market per outcome, `negRisk: true` under one `negRiskMarketID`). Venue on 127.0.0.1,
free port, stopped after each test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sim.venue.testing import ThreadedVenue
from tests.helpers.fixtures import load_json, polymarket
from tests.unit.test_sim_market_shapes import _scenario

MONEYLINE = load_json(polymarket("test_data", "gamma_market_sports_market_money_line.json"))
NEG_RISK_EVENT = load_json(polymarket("test_data", "gamma_event.json"))[0]
JSON_STRINGS = ("outcomes", "outcomePrices", "clobTokenIds")


@pytest.fixture()
def gamma() -> Iterator[tuple[str, Any]]:
    scenario = _scenario()
    sim = ThreadedVenue(scenario.markets, matching_delay_s=3.0).start()
    try:
        yield f"{sim.url}/gamma", scenario
    finally:
        sim.stop()


def _same_shape(ours: dict[str, Any], recorded: dict[str, Any], where: str) -> None:
    """Every key we serve is a key of the recorded object, with a value of the same JSON type
    (None on either side accepted: Gamma omits or nulls unset fields)."""
    extra = sorted(set(ours) - set(recorded))
    assert not extra, f"{where}: keys Gamma does not send: {extra}"
    for key, value in ours.items():
        theirs = recorded[key]
        if value is None or theirs is None or key == "events":
            continue
        numeric = (int, float)
        same = (isinstance(value, numeric) and isinstance(theirs, numeric)
                and not isinstance(value, bool) and not isinstance(theirs, bool)) or (
            type(value) is type(theirs))
        assert same, f"{where}.{key}: {value!r} is not like the recorded {theirs!r}"
    for key in JSON_STRINGS:
        if key in ours:
            assert isinstance(json.loads(ours[key]), list), f"{where}.{key} is not a JSON list"


def test_series_and_map_winner_markets_are_served_as_gamma_labels_them(gamma: Any) -> None:
    url, scenario = gamma
    series = next(m for m in scenario.markets if m.match_id == "bo3" and not m.map_number)
    response = httpx.get(f"{url}/markets", params={"condition_ids": series.condition_id},
                         timeout=5)
    response.raise_for_status()
    (market,) = response.json()
    _same_shape(market, MONEYLINE, "moneyline market")
    assert (market["sportsMarketType"], market["groupItemTitle"]) == ("moneyline",
                                                                      "Match Winner")
    assert market["negRisk"] is False and "negRiskMarketID" not in market
    assert json.loads(market["clobTokenIds"]) == list(series.token_ids)
    assert json.loads(market["outcomes"]) == ["Alpha", "Bravo"]
    assert market["secondsDelay"] == 3 and market["feeSchedule"] == MONEYLINE["feeSchedule"]
    _same_shape(market["events"][0], MONEYLINE["events"][0], "moneyline market.events[0]")
    events = httpx.get(f"{url}/events", params={"id": market["events"][0]["id"]},
                       timeout=5).json()
    (event,) = events
    labels = [(m["sportsMarketType"], m["groupItemTitle"]) for m in event["markets"]]
    assert labels == [("moneyline", "Match Winner"), ("child_moneyline", "Map 1 Winner"),
                      ("child_moneyline", "Map 2 Winner"), ("child_moneyline", "Map 3 Winner")]
    for m in event["markets"]:
        assert "events" not in m
        _same_shape(m, MONEYLINE, f"event market {m['groupItemTitle']}")


def test_a_neg_risk_event_is_served_as_the_recorded_one(gamma: Any) -> None:
    url, scenario = gamma
    outcomes = [m for m in scenario.markets if m.event_id == "cup"]
    events = httpx.get(f"{url}/events", timeout=5).json()
    (event,) = [e for e in events if e["negRisk"]]
    _same_shape({k: v for k, v in event.items() if k != "markets"}, NEG_RISK_EVENT, "event")
    assert event["negRiskMarketID"] == outcomes[0].neg_risk_market_id and event["enableNegRisk"]
    assert [m["groupItemTitle"] for m in event["markets"]] == ["Alpha", "Bravo", "Charlie",
                                                               "Delta"]
    # the recorded neg-risk market is not a sports one: an esports outcome market also has the
    # sports fields of the moneyline fixture (fee schedule, delay); the neg-risk keys are its
    recorded = {**MONEYLINE, **NEG_RISK_EVENT["markets"][0]}
    for index, market in enumerate(event["markets"]):
        assert "events" not in market  # nested markets do not repeat their event
        _same_shape(market, recorded, f"neg-risk market {index}")
        assert market["negRisk"] is True and market["sportsMarketType"] is None
        assert market["negRiskMarketID"] == event["negRiskMarketID"]
        assert json.loads(market["outcomes"]) == ["Yes", "No"]
        # question id = the neg-risk market id with the question index as its last byte
        assert market["questionID"] == event["negRiskMarketID"][:-2] + f"{index:02x}"
    # a filter that matches nothing answers an empty list
    assert httpx.get(f"{url}/markets", params={"slug": "nope"}, timeout=5).json() == []
