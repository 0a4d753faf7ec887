package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The headers of every delivery. A receiver verifies Signature over the
// event ID, the timestamp and the raw body, and refuses a timestamp off by
// more than Tolerance (a replayed delivery).
const (
	HeaderID        = "Tsunagi-Webhook-Id"
	HeaderTimestamp = "Tsunagi-Webhook-Timestamp" // Unix seconds of this attempt
	HeaderSignature = "Tsunagi-Webhook-Signature" // "v1=<hex>", space-separated when two secrets sign
)

// Tolerance is how far a receiver should accept a timestamp from its own
// clock.
const Tolerance = 5 * time.Minute

// SecretPrefix starts every webhook secret, so that one pasted in the wrong
// place is recognisable.
const SecretPrefix = "whsec"

// RotationOverlap is how long a rotated-out secret still signs: a
// receiver has this long to take the new secret, and accepts either
// meanwhile, as every delivery carries a signature by each.
const RotationOverlap = 24 * time.Hour

// Signature is "v1=" and the hex HMAC-SHA256, keyed with the secret as
// shown to the customer (its UTF-8 bytes), of id "." timestamp "." body.
func Signature(secret, id, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(id + "." + timestamp + "."))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify is the receiver's check of a delivery with its headers' values:
// a signature in the header by secret, and a timestamp within Tolerance of
// now: the tests' receiver. Customers cannot import this internal
// package, so docs/monitoring.md gives them the same check to copy.
func Verify(secret, id, timestamp, signatures string, body []byte, now time.Time) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("webhook: bad timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return errors.New("webhook: timestamp outside the tolerance (a replay?)")
	}
	want := Signature(secret, id, timestamp, body)
	for s := range strings.FieldsSeq(signatures) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("webhook: no valid signature")
}
