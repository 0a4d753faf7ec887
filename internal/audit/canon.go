package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// The chain hash is defined over encoding/json's encoding of Entry (Hash),
// and a verifier re-encodes every entry it checks: through reflection that
// was a quarter of a long chain's verification. appendCanonical writes the
// same bytes by hand. Every rule below is encoding/json's, and
// TestCanonicalMatchesJSON holds the two to identical bytes over random
// entries; a value the fast path does not handle (nested detail, a number
// it cannot format the same way) goes through encoding/json.

// hashBufs recycles the encoding buffers of Hash.
var hashBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// hashOf is SHA-256 over prev, a newline and the canonical encoding of e,
// which must be in the form Hash encodes (stored, UTC, rule applied).
func hashOf(e *Entry) string {
	bp := hashBufs.Get().(*[]byte)
	b := append((*bp)[:0], e.PrevHash...)
	b = append(b, '\n')
	if enc, ok := appendCanonical(b, e); ok {
		b = enc
	} // else: encoding/json fails on it too, and Hash covers no encoding
	sum := sha256.Sum256(b)
	*bp = b[:0]
	hashBufs.Put(bp)
	return hex.EncodeToString(sum[:])
}

// appendCanonical appends json.Marshal(e) to b, or reports false where
// json.Marshal would fail.
func appendCanonical(b []byte, e *Entry) ([]byte, bool) {
	b = append(b, '{')
	if e.V != 0 {
		b = append(b, `"v":`...)
		b = strconv.AppendInt(b, int64(e.V), 10)
		b = append(b, ',')
	}
	if e.Chain != "" {
		b = appendField(b, `"chain":`, e.Chain)
	}
	b = append(b, `"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"at":"`...)
	var ok bool
	if b, ok = appendTime(b, e.At); !ok {
		return b, false
	}
	b = append(b, `",`...)
	b = appendField(b, `"actor_id":`, e.ActorID)
	b = appendField(b, `"actor_kind":`, e.ActorKind)
	b = appendField(b, `"actor_name":`, e.ActorName)
	if e.CustomerID != "" {
		b = appendField(b, `"customer_id":`, e.CustomerID)
	}
	if e.OnBehalfOf != "" {
		b = appendField(b, `"on_behalf_of":`, e.OnBehalfOf)
	}
	b = appendField(b, `"action":`, e.Action)
	b = appendField(b, `"target":`, e.Target)
	b = appendField(b, `"source_ip":`, e.SourceIP)
	b = appendField(b, `"request_id":`, e.RequestID)
	b = appendField(b, `"result":`, e.Result)
	if e.Reason != "" {
		b = appendField(b, `"reason":`, e.Reason)
	}
	if len(e.Detail) != 0 {
		b = append(b, `"detail":`...)
		if b, ok = appendDetail(b, e.Detail); !ok {
			return b, false
		}
		b = append(b, ',')
	}
	if e.Sealed != "" {
		b = appendField(b, `"sealed":`, e.Sealed)
	}
	if len(e.SealedFields) != 0 {
		b = append(b, `"sealed_fields":[`...)
		for i, s := range e.SealedFields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		b = append(b, `],`...)
	}
	b = appendField(b, `"prev_hash":`, e.PrevHash)
	b = appendField(b, `"hash":`, e.Hash)
	b[len(b)-1] = '}' // the last field's comma
	return b, true
}

func appendField(b []byte, name, s string) []byte {
	b = append(b, name...)
	return append(appendString(b, s), ',')
}

// appendTime is time.Time.MarshalJSON without the quotes, for a time in
// UTC: RFC 3339 with nanoseconds, refused outside the years 0–9999.
func appendTime(b []byte, t time.Time) ([]byte, bool) {
	if t.Location() != time.UTC {
		t = t.UTC() // Hash does this already; a zone offset has more rules
	}
	n := len(b)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return b, len(b) > n+4 && b[n+4] == '-' // a year of exactly 4 digits
}

// appendDetail is encoding/json's encoding of a detail map: keys sorted,
// strings, booleans, null and plain numbers by hand, anything else through
// encoding/json.
func appendDetail(b []byte, d map[string]any) ([]byte, bool) {
	var small [16]string
	keys := small[:0]
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys) // encoding/json sorts string keys by byte order too
	n := len(b)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		switch v := d[k].(type) {
		case string:
			b = appendString(b, v)
		case bool:
			b = strconv.AppendBool(b, v)
		case nil:
			b = append(b, "null"...)
		case float64:
			if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) || math.IsNaN(v) {
				return marshalDetail(b[:n], d) // exponent form or an error: as encoding/json does it
			}
			b = strconv.AppendFloat(b, v, 'f', -1, 64)
		default:
			return marshalDetail(b[:n], d)
		}
	}
	return append(b, '}'), true
}

func marshalDetail(b []byte, d map[string]any) ([]byte, bool) {
	enc, err := json.Marshal(d)
	if err != nil {
		return b, false
	}
	return append(b, enc...), true
}

const hexDigits = "0123456789abcdef"

// appendString is encoding/json's string encoding with HTML escaping (its
// default): ", \ and control characters escaped, <, > and & as \u003c,
// \u003e and \u0026, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
