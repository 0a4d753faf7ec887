package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// referenceHash is Hash as the rule defines it: encoding/json's encoding
// of the stored form. The hand-written encoder must match it byte for byte.
func referenceHash(e Entry) (string, []byte) {
	e = stored(e)
	e.Hash = ""
	e.At = e.At.UTC()
	if len(e.Detail) == 0 {
		e.Detail = nil
	}
	if e.V < V2 {
		e.V, e.Chain = 0, ""
	}
	b, _ := json.Marshal(e)
	sum := sha256.Sum256(append([]byte(e.PrevHash+"\n"), b...))
	return hex.EncodeToString(sum[:]), b
}

// weirdPieces are the strings whose encoding has a rule of its own.
var weirdPieces = []string{
	"", "a", "ops-admin", "<", ">", "&", `"`, `\`, "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f", "\x7f",
	"\u2028", "\u2029", "日本語", "\xff", "\xe3\x81", "\xed\xa0\x80", "😀", "\U0010ffff", "(sealed)", "/", "'",
	"\u00e9", "\ufffd", " ",
}

func randString(r *rand.Rand) string {
	var sb strings.Builder
	for range r.IntN(5) {
		sb.WriteString(weirdPieces[r.IntN(len(weirdPieces))])
	}
	return sb.String()
}

func randValue(r *rand.Rand, depth int) any {
	switch r.IntN(12) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return float64(r.IntN(100000)) - 500
	case 3:
		return r.NormFloat64() * math.Pow(10, float64(r.IntN(60)-30))
	case 4:
		return []float64{0, math.Copysign(0, -1), 1e-6, 1e-7, 1e20, 1e21, 123456789012345678, 0.1, -2.5e-300}[r.IntN(9)]
	case 5:
		if depth < 3 {
			m := map[string]any{}
			for range r.IntN(4) {
				m[randString(r)] = randValue(r, depth+1)
			}
			return m
		}
		return "leaf"
	case 6:
		if depth < 3 {
			var a []any
			for range r.IntN(4) {
				a = append(a, randValue(r, depth+1))
			}
			return a
		}
		return 7.0
	case 7:
		return json.Number("12.50")
	case 8:
		return r.IntN(1000) // not what a decoded entry holds, but Hash takes any Entry
	default:
		return randString(r)
	}
}

func randEntry(r *rand.Rand) Entry {
	e := Entry{
		V: []int{0, V1, V2, V2}[r.IntN(4)], Chain: randString(r), Seq: r.Int64N(1 << 40),
		At:      time.Unix(r.Int64N(4_000_000_000), r.Int64N(1e9)*int64(r.IntN(2))).In(time.FixedZone("x", 3600*r.IntN(10))),
		ActorID: randString(r), ActorKind: randString(r), ActorName: randString(r), CustomerID: randString(r),
		OnBehalfOf: randString(r), Action: randString(r), Target: randString(r), SourceIP: randString(r),
		RequestID: randString(r), Result: randString(r), Reason: randString(r), Sealed: randString(r),
		PrevHash: randString(r), Hash: randString(r),
	}
	switch r.IntN(4) {
	case 0: // no detail
	case 1:
		e.Detail = map[string]any{}
	default:
		e.Detail = map[string]any{}
		for range r.IntN(6) {
			e.Detail[randString(r)] = randValue(r, 1)
		}
	}
	names := []string{"actor_name", "source_ip", "target", "reason", "detail.email", "detail." + randString(r), "other"}
	for range r.IntN(3) {
		e.SealedFields = append(e.SealedFields, names[r.IntN(len(names))])
	}
	if r.IntN(20) == 0 {
		e.At = time.Date(10000+r.IntN(5), 1, 1, 0, 0, 0, 0, time.UTC) // json.Marshal refuses the year
	}
	if r.IntN(20) == 0 {
		e.Detail = map[string]any{"x": math.Inf(1)} // and this value
	}
	return e
}

// TestCanonicalMatchesJSON holds the hand-written encoding to encoding/json's
// over random entries: every field empty or not, strings with every escape
// rule, nested and numeric detail, sealed fields, both hash rules, and the
// values encoding/json refuses.
func TestCanonicalMatchesJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 2026))
	for i := range 20000 {
		e := randEntry(r)
		want, wantJSON := referenceHash(e)
		if got := Hash(e); got != want {
			s := stored(e)
			s.Hash, s.At = "", s.At.UTC()
			if len(s.Detail) == 0 {
				s.Detail = nil
			}
			if s.V < V2 {
				s.V, s.Chain = 0, ""
			}
			gotJSON, _ := appendCanonical(nil, &s)
			t.Fatalf("entry %d: hash differs\n json: %s\n hand: %s", i, wantJSON, gotJSON)
		}
	}
}

// TestCanonicalSeesEveryField fails when Entry gains a field the
// hand-written encoder does not write (the random test would only notice
// once it filled the field).
func TestCanonicalSeesEveryField(t *testing.T) {
	e := Entry{V: V2, Chain: "c", Seq: 1, At: time.Unix(1, 0).UTC(), ActorID: "a", ActorKind: "k", ActorName: "n",
		CustomerID: "c", OnBehalfOf: "o", Action: "x", Target: "t", SourceIP: "s", RequestID: "r", Result: "ok",
		Reason: "why", Detail: map[string]any{"k": "v"}, Sealed: "blob", SealedFields: []string{"target"},
		PrevHash: "p", Hash: "h"}
	want, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := appendCanonical(nil, &e)
	if !bytes.Equal(got, want) {
		t.Fatalf("\n json: %s\n hand: %s", want, got)
	}
}

func BenchmarkHash(b *testing.B) {
	e := Entry{V: V2, Chain: "cus_a", Seq: 123456, At: time.Now().UTC(), ActorID: "acc_o", ActorKind: "operator",
		ActorName: "staff", CustomerID: "cus_a", Action: "port.update", Target: "port:p12", SourceIP: "192.0.2.1",
		RequestID: "req_123456", Result: OK, Detail: map[string]any{"speed": 1000.0}, PrevHash: strings.Repeat("a", 64)}
	b.Run("canonical", func(b *testing.B) {
		for b.Loop() {
			Hash(e)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			referenceHash(e)
		}
	})
}
