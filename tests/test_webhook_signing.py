"""Standard Webhooks signatures (webhooks/signing.py; issue 23's `webhooks` mutation target): what we
sign agrees with the independent `standardwebhooks` package, and what `verify` accepts and refuses,
each rule at its exact boundary, with the sentence it refuses with."""

from __future__ import annotations

import base64
import re
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from webhooks import signing
from webhooks.signing import Malformed, Unverified

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OLD_SECRET = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
NOW = 1_800_000_000
BODY = b'{"business_key": "JF-1", "payload": {"outcome": "resolved"}}'
ID = "msg_2b8yq7ZQx"


def headers(webhook_id: str = ID, timestamp: int = NOW, body: bytes = BODY, secrets: list[str] | None = None):
    return signing.headers(secrets or [SECRET], webhook_id, timestamp, body)


def refused(error, says: str, found: dict, body: bytes = BODY, now: float = NOW, secrets: list[str] | None = None):
    with pytest.raises(error, match=f"^{re.escape(says)}$"):
        signing.verify([SECRET] if secrets is None else secrets, found, body, now)


def test_our_signature_is_the_standard_webhooks_packages():
    at = datetime.fromtimestamp(NOW, UTC)
    assert signing.sign(SECRET, ID, NOW, BODY) == Webhook(SECRET).sign(ID, at, BODY.decode())
    now = int(time.time())  # the package verifies against its own clock
    assert Webhook(SECRET).verify(BODY, headers(timestamp=now))["business_key"] == "JF-1"


def test_the_headers_carry_the_id_the_timestamp_and_one_signature_per_secret_the_current_first():
    signed = headers(secrets=[SECRET, OLD_SECRET])
    assert signed["webhook-id"] == ID and signed["webhook-timestamp"] == str(NOW)
    assert signed["webhook-signature"].split(" ") == [signing.sign(s, ID, NOW, BODY) for s in (SECRET, OLD_SECRET)]


def test_a_new_secret_is_a_fresh_32_byte_key_the_package_signs_with():
    first, second = signing.new_secret(), signing.new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    at = datetime.fromtimestamp(NOW, UTC)
    assert signing.sign(first, ID, NOW, BODY) == Webhook(first).sign(ID, at, BODY.decode())


def test_a_request_signed_with_any_of_the_secrets_by_any_of_its_signatures_is_verified():
    assert signing.verify([SECRET], headers(), BODY, NOW) == ID
    rotated = headers(secrets=[OLD_SECRET, SECRET])  # the matching signature second
    assert signing.verify([SECRET], rotated, BODY, NOW) == ID
    assert signing.verify([OLD_SECRET, SECRET], headers(), BODY, NOW) == ID  # the matching secret second


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
@pytest.mark.parametrize("value", [None, ""])
def test_each_header_is_required(missing, value):
    found = {**headers(), missing: value}
    refused(Unverified, "webhook-id, webhook-timestamp and webhook-signature are required", found)


@pytest.mark.parametrize("webhook_id", ["!", "~", "a" * 200, "msg_" + "".join(chr(c) for c in range(0x21, 0x7F))[:196]])
def test_an_id_of_1_to_200_printable_ascii_characters_is_accepted(webhook_id):
    assert signing.verify([SECRET], headers(webhook_id), BODY, NOW) == webhook_id


@pytest.mark.parametrize("webhook_id", ["a" * 201, "msg 1", "msg\x7f", "msg\t", "é"])
def test_another_id_is_malformed(webhook_id):
    refused(Malformed, "webhook-id must be 1-200 printable characters", headers(webhook_id))


@pytest.mark.parametrize("timestamp", ["-1", "+5", "1.5", " 1", "1" * 13, "١٢"])
def test_a_timestamp_that_is_not_whole_seconds_is_malformed(timestamp):
    found = {**headers(), "webhook-timestamp": timestamp}
    refused(Malformed, "webhook-timestamp must be whole seconds since 1970", found)


def test_a_timestamp_of_twelve_digits_is_well_formed_but_too_new():
    found = {**headers(), "webhook-timestamp": "9" * 12}
    refused(Unverified, "webhook-timestamp is too old or too new", found)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_a_timestamp_up_to_five_minutes_away_is_accepted(offset):
    assert signing.verify([SECRET], headers(timestamp=NOW + offset), BODY, NOW) == ID


@pytest.mark.parametrize("offset", [-301, -300.5, 300.5, 301])
def test_a_timestamp_further_away_is_refused(offset):
    refused(Unverified, "webhook-timestamp is too old or too new", headers(), now=NOW + offset)


@pytest.mark.parametrize(
    "change",
    [
        "another body",
        "another id",
        "another timestamp",
        "another secret",
        "v2 scheme",
        "no scheme",
        "not ascii",
        "more after a comma",
    ],
)
def test_a_signature_that_does_not_match_is_refused(change):
    found, body, good = headers(), BODY, headers()["webhook-signature"]
    if change == "another body":
        body = BODY + b" "
    elif change == "another id":
        found = {**found, "webhook-id": ID + "x"}
    elif change == "another timestamp":
        found = {**found, "webhook-timestamp": str(NOW + 1)}
    elif change == "another secret":
        found = headers(secrets=[OLD_SECRET])
    elif change == "v2 scheme":
        found = {**found, "webhook-signature": "v2," + good.split(",", 1)[1]}
    elif change == "no scheme":
        found = {**found, "webhook-signature": good.split(",", 1)[1]}
    elif change == "more after a comma":  # the signature is everything after "v1,"
        found = {**found, "webhook-signature": good + ",x"}
    else:  # a non-ASCII candidate is skipped, not compared (compare_digest refuses non-ASCII text)
        found = {**found, "webhook-signature": "v1,签名"}
    refused(Unverified, "no signature matches", found, body=body)


def test_a_non_ascii_or_foreign_signature_beside_the_good_one_does_not_hide_it():
    good = headers()["webhook-signature"]
    found = {**headers(), "webhook-signature": f"v1,签名 v2,abc {good}"}
    assert signing.verify([SECRET], found, BODY, NOW) == ID


def test_no_secret_verifies_nothing():
    refused(Unverified, "no signature matches", headers(), secrets=[])


@pytest.mark.parametrize("separator", ["\t", "\n", "\u3000"])
def test_signatures_are_separated_by_spaces_only(separator):
    # as the standardwebhooks package splits them: another separator makes one unmatched signature
    good, old = (headers(secrets=[s])["webhook-signature"] for s in (SECRET, OLD_SECRET))
    refused(Unverified, "no signature matches", {**headers(), "webhook-signature": old + separator + good})
    assert signing.verify([SECRET], {**headers(), "webhook-signature": f"{old} {good}"}, BODY, NOW) == ID
