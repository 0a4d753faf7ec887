package lookingglass

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

func answer() Answer {
	return Answer{Schema: Schema, ID: "lgq_1", AnsweredAt: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC), State: "up", Info: "Established",
		HoldTime: 90, KeepaliveTime: 30,
		Received: []ReceivedRoute{{Prefix: "192.0.2.0/24", NextHop: "10.0.0.2", ASPath: []int64{65001}, Accepted: true},
			{Prefix: "10.0.0.0/8", NextHop: "10.0.0.2", ASPath: []int64{65001}, Reason: "bogon"}},
		Advertised: []AdvertisedRoute{{Prefix: "100.64.0.0/24", NextHop: "10.0.0.1", ASPath: []int64{64512}}}}
}

func TestAnswerRoundTrip(t *testing.T) {
	b, err := EncodeAnswer(answer())
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeAnswer(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Received[1].Reason != "bogon" || got.Advertised[0].Prefix != "100.64.0.0/24" || got.HoldTime != 90 {
		t.Fatalf("round trip changed the answer: %+v", got)
	}
}

// TestDecodeRefuses states what the strict decoder refuses; each case is a
// valid answer with one thing wrong, so the valid one passing proves the
// refusals come from that one thing.
func TestDecodeRefuses(t *testing.T) {
	for name, bad := range map[string]func(*Answer){
		"schema":              func(a *Answer) { a.Schema = "other" },
		"no id":               func(a *Answer) { a.ID = "" },
		"bad prefix":          func(a *Answer) { a.Received[0].Prefix = "192.0.2.1/24" },
		"ipv6 prefix":         func(a *Answer) { a.Advertised[0].Prefix = "2001:db8::/32" },
		"bad next hop":        func(a *Answer) { a.Received[0].NextHop = "x" },
		"accepted reason":     func(a *Answer) { a.Received[0].Reason = "bogon" },
		"refused no reason":   func(a *Answer) { a.Received[1].Reason = "" },
		"unknown reason":      func(a *Answer) { a.Received[1].Reason = "because" },
		"negative AS":         func(a *Answer) { a.Received[0].ASPath = []int64{-1} },
		"too many received":   func(a *Answer) { a.Received = make([]ReceivedRoute, MaxReceived+1) },
		"too many advertised": func(a *Answer) { a.Advertised = make([]AdvertisedRoute, MaxAdvertised+1) },
		"long text":           func(a *Answer) { a.Info = strings.Repeat("x", MaxText+1) },
		"timer":               func(a *Answer) { a.HoldTime = -1 },
	} {
		a := answer()
		bad(&a)
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeAnswer(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	b, _ := json.Marshal(answer())
	if _, err := DecodeAnswer(append(b[:len(b)-1], []byte(`,"extra":1}`)...)); err == nil {
		t.Error("unknown field decoded")
	}
}

func TestCutBoundsTheLists(t *testing.T) {
	a := answer()
	a.Received = make([]ReceivedRoute, MaxReceived+5)
	for i := range a.Received {
		a.Received[i] = ReceivedRoute{Prefix: "192.0.2.0/24", Accepted: true}
	}
	a.Cut()
	if len(a.Received) != MaxReceived || !a.ReceivedCut || a.AdvertisedCut {
		t.Fatalf("cut: %d received, cut %v/%v", len(a.Received), a.ReceivedCut, a.AdvertisedCut)
	}
	if _, err := EncodeAnswer(a); err != nil {
		t.Fatal(err)
	}
}

func TestQueries(t *testing.T) {
	q := Query{Schema: Schema, ID: "lgq_1", HubID: "hub_1", CustomerID: "cus_1", PortCode: "shc00000001", Session: "single"}
	b, err := EncodeQueries(Queries{Queries: []Query{q}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeQueries(b)
	if err != nil || len(got.Queries) != 1 || got.Queries[0] != q {
		t.Fatalf("queries: %+v %v", got, err)
	}
	q.Session = "tertiary"
	if _, err := EncodeQueries(Queries{Queries: []Query{q}}); err == nil {
		t.Error("a query for an unknown session encoded")
	}
}

// TestSchemaNamesEveryField keeps the JSON schema and the Go types
// together: every JSON field of the answer appears in the schema.
func TestSchemaNamesEveryField(t *testing.T) {
	raw, err := os.ReadFile("lookingglass.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	a := answer()
	a.ReceivedCut, a.AdvertisedCut, a.Error = true, true, "x"
	since := a.AnsweredAt
	a.Since = &since
	b, _ := json.Marshal(a)
	var fields map[string]any
	_ = json.Unmarshal(b, &fields)
	for f := range fields {
		if !strings.Contains(string(raw), `"`+f+`"`) {
			t.Errorf("schema does not name the answer's field %q", f)
		}
	}
}
