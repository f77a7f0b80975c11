package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of a webhook request.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>", the
	// scheme Stripe uses, so receivers can reuse code they already trust.
	SignatureHeader = "Moments-Signature"
	// IdempotencyKeyHeader carries a key that is the same on every attempt
	// to deliver one webhook; a receiver that has seen it can ignore it.
	IdempotencyKeyHeader = "Idempotency-Key"
)

// DefaultSignatureTolerance is how far a signature's timestamp may be from
// the receiver's clock when Verify is given no tolerance. It bounds how long
// a captured request can be replayed.
const DefaultSignatureTolerance = 5 * time.Minute

// maxSignatureHeader bounds the header Verify will parse; a real one is
// under 100 bytes, and a receiver should not spend work on a huge one.
const maxSignatureHeader = 4 << 10

// Errors returned by Verify. A receiver should answer 400 to any of them.
var (
	ErrSignatureMissing   = errors.New("webhook signature is missing")
	ErrSignatureMalformed = errors.New("webhook signature header is malformed")
	ErrSignatureMismatch  = errors.New("webhook signature does not match the body: wrong secret or altered body")
	ErrSignatureExpired   = errors.New("webhook signature timestamp is outside the tolerance: a replay or a skewed clock")
)

// Sign returns the Moments-Signature header value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(signatureMAC(secret, ts, body))
}

// signatureMAC is HMAC-SHA256(secret, "<t>.<body>"). The timestamp is inside
// the MAC so that it cannot be changed to make an old request look new.
func signatureMAC(secret []byte, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// Verify checks a Moments-Signature header against the raw request body, as
// a receiver must before acting on a webhook. It accepts the header when one
// of its v1 signatures matches (several appear while a secret is rotated)
// and its timestamp is within tolerance of now, in either direction; a
// tolerance of zero or less means DefaultSignatureTolerance. Comparisons are
// constant-time. Unknown schemes such as a future v2 are ignored.
func Verify(secret []byte, header string, body []byte, tolerance time.Duration, now time.Time) error {
	if len(secret) == 0 {
		return errors.New("webhook secret is empty: cannot verify a signature without it")
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrSignatureMissing
	}
	if len(header) > maxSignatureHeader {
		return fmt.Errorf("%w: longer than %d bytes", ErrSignatureMalformed, maxSignatureHeader)
	}
	if tolerance <= 0 {
		tolerance = DefaultSignatureTolerance
	}

	var (
		ts     string
		hasTS  bool
		hashes [][]byte
	)
	for part := range strings.SplitSeq(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: %q is not key=value", ErrSignatureMalformed, part)
		}
		switch key {
		case "t":
			if hasTS {
				return fmt.Errorf("%w: more than one timestamp", ErrSignatureMalformed)
			}
			ts, hasTS = value, true
		case "v1":
			sum, err := hex.DecodeString(value)
			if err != nil || len(sum) != sha256.Size {
				return fmt.Errorf("%w: v1 is not a hex SHA-256 HMAC", ErrSignatureMalformed)
			}
			hashes = append(hashes, sum)
		}
	}
	if !hasTS {
		return fmt.Errorf("%w: no timestamp t=", ErrSignatureMalformed)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not unix seconds", ErrSignatureMalformed, ts)
	}
	if len(hashes) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrSignatureMalformed)
	}

	want := signatureMAC(secret, ts, body)
	matched := false
	for _, sum := range hashes {
		// Every candidate is compared, so the time taken does not say which
		// one matched.
		if hmac.Equal(sum, want) {
			matched = true
		}
	}
	if !matched {
		return ErrSignatureMismatch
	}
	// Checked after the MAC, so an expiry error means an authentic but old
	// request, which tells the receiver's operator to look at clocks.
	age := now.Sub(time.Unix(unix, 0))
	if age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: signed %s ago, tolerance %s", ErrSignatureExpired, age.Round(time.Second), tolerance)
	}
	return nil
}
