// Package ids makes the random identifiers of tsunagi's objects. Identifiers are
// random rather than sequential so that one customer cannot count or guess the
// objects of another.
package ids

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

var enc = base32.StdEncoding.WithPadding(base32.NoPadding)

// New returns prefix + "_" + 26 characters of base32 (128 random bits).
func New(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return prefix + "_" + strings.ToLower(enc.EncodeToString(b[:]))
}

// Secret returns a 256-bit random token for links and API tokens, URL-safe.
func Secret(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + strings.ToLower(enc.EncodeToString(b[:]))
}
