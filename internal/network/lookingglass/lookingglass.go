package lookingglass

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Schema names this version of the contract.
const Schema = "tsunagi.looking-glass/v1"

// Sessions a query may name: a single port's one session, a redundant
// port's primary or secondary.
var Sessions = []string{"single", "primary", "secondary"}

// Bounds. MaxReceived is the route limit a session may hold (2,000
// accepted routes) plus the refused ones BIRD keeps beside them, so that
// a session at its limit is shown whole; a longer list is cut and the
// answer says so (ReceivedCut).
const (
	MaxReceived   = 2500
	MaxAdvertised = 2500
	MaxText       = 256 // a state, info, reason or error text
	MaxASPath     = 64  // ASNs in one AS path
	// MaxAnswer bounds an encoded answer.
	MaxAnswer = 2 << 20
)

// Query is one looking-glass request for one session.
type Query struct {
	Schema     string `json:"schema"`
	ID         string `json:"id"`
	HubID      string `json:"hub_id"`
	CustomerID string `json:"customer_id"`
	PortCode   string `json:"port_code"`
	Session    string `json:"session"`
}

// Queries is the agent's poll answer: the queries waiting for its hubs.
type Queries struct {
	Schema  string  `json:"schema"`
	Queries []Query `json:"queries"`
}

// Answer is what the hub's BIRD said of the session when asked.
type Answer struct {
	Schema     string    `json:"schema"`
	ID         string    `json:"id"`
	AnsweredAt time.Time `json:"answered_at"`
	// State is BIRD's protocol state (up, start, down) and Info its BGP
	// state (Established, Active, Connect, …); Since when it last changed.
	State string     `json:"state"`
	Info  string     `json:"info"`
	Since *time.Time `json:"since,omitempty"`
	// Timers as BIRD reports them for the session, in seconds (0: not
	// reported, e.g. a session that is not established).
	HoldTime      int `json:"hold_time"`
	KeepaliveTime int `json:"keepalive_time"`
	// Received are the routes the peer sent: accepted ones and those the
	// import filter refused (BIRD keeps them: "import keep filtered"),
	// with the reason.
	Received    []ReceivedRoute   `json:"received"`
	ReceivedCut bool              `json:"received_cut,omitempty"`
	Advertised  []AdvertisedRoute `json:"advertised"`
	// AdvertisedCut says Advertised holds only the first MaxAdvertised.
	AdvertisedCut bool `json:"advertised_cut,omitempty"`
	// Error says why the hub could not answer in full (the session does
	// not exist on the node, BIRD did not answer); "" when it did.
	Error string `json:"error,omitempty"`
}

// ReceivedRoute is one route the peer sent.
type ReceivedRoute struct {
	Prefix   string  `json:"prefix"`
	NextHop  string  `json:"next_hop"`
	ASPath   []int64 `json:"as_path"`
	Accepted bool    `json:"accepted"`
	// Reason is why a refused route was refused: bogon, hub's own
	// network, not in the route policy. "" for an accepted route.
	Reason string `json:"reason,omitempty"`
}

// AdvertisedRoute is one route the hub sends the peer.
type AdvertisedRoute struct {
	Prefix  string  `json:"prefix"`
	NextHop string  `json:"next_hop"`
	ASPath  []int64 `json:"as_path"`
}

// Reasons a refused route may carry.
var Reasons = []string{"bogon", "hub's own network", "not in the route policy"}

// Clip shortens a text to at most MaxText bytes of valid UTF-8.
func Clip(s string) string {
	if len(s) > MaxText {
		s = s[:MaxText]
	}
	return strings.ToValidUTF8(s, "")
}

// Check says whether q is well formed.
func (q Query) Check() error {
	switch {
	case q.Schema != Schema:
		return fmt.Errorf("looking-glass query: schema %q, want %q", q.Schema, Schema)
	case q.ID == "" || len(q.ID) > 64 || q.HubID == "" || len(q.HubID) > 64 || q.CustomerID == "" || len(q.CustomerID) > 64:
		return errors.New("looking-glass query: id, hub_id and customer_id are required (at most 64 bytes)")
	case q.PortCode == "" || len(q.PortCode) > 32:
		return errors.New("looking-glass query: port_code is required")
	case !slices.Contains(Sessions, q.Session):
		return fmt.Errorf("looking-glass query: session %q is not one of %v", q.Session, Sessions)
	}
	return nil
}

// Check says whether a is well formed: the schema, the bounds, prefixes
// and next hops that parse, reasons on refused routes only.
func (a Answer) Check() error {
	if a.Schema != Schema {
		return fmt.Errorf("looking-glass answer: schema %q, want %q", a.Schema, Schema)
	}
	if a.ID == "" || len(a.ID) > 64 || a.AnsweredAt.IsZero() {
		return errors.New("looking-glass answer: id and answered_at are required")
	}
	for _, s := range []string{a.State, a.Info, a.Error} {
		if len(s) > MaxText {
			return fmt.Errorf("looking-glass answer: a text is longer than %d bytes", MaxText)
		}
	}
	if a.HoldTime < 0 || a.HoldTime > 65535 || a.KeepaliveTime < 0 || a.KeepaliveTime > 65535 {
		return errors.New("looking-glass answer: timers are 0 to 65535 seconds")
	}
	if len(a.Received) > MaxReceived || len(a.Advertised) > MaxAdvertised {
		return fmt.Errorf("looking-glass answer: at most %d received and %d advertised routes", MaxReceived, MaxAdvertised)
	}
	for i, r := range a.Received {
		if err := checkRoute(r.Prefix, r.NextHop, r.ASPath); err != nil {
			return fmt.Errorf("looking-glass answer: received route %d: %w", i, err)
		}
		if r.Accepted != (r.Reason == "") || (!r.Accepted && !slices.Contains(Reasons, r.Reason)) {
			return fmt.Errorf("looking-glass answer: received route %d: a refused route has one of the reasons %v, an accepted one none", i, Reasons)
		}
	}
	for i, r := range a.Advertised {
		if err := checkRoute(r.Prefix, r.NextHop, r.ASPath); err != nil {
			return fmt.Errorf("looking-glass answer: advertised route %d: %w", i, err)
		}
	}
	return nil
}

func checkRoute(prefix, nextHop string, path []int64) error {
	p, err := netip.ParsePrefix(prefix)
	if err != nil || !p.Addr().Is4() || p.Masked() != p {
		return fmt.Errorf("prefix %q is not an IPv4 network", prefix)
	}
	if nextHop != "" {
		if a, err := netip.ParseAddr(nextHop); err != nil || !a.Is4() {
			return fmt.Errorf("next hop %q is not an IPv4 address", nextHop)
		}
	}
	if len(path) > MaxASPath {
		return fmt.Errorf("AS path longer than %d", MaxASPath)
	}
	for _, asn := range path {
		if asn < 0 || asn > 1<<32-1 {
			return fmt.Errorf("AS %d is not a 32-bit AS number", asn)
		}
	}
	return nil
}

// EncodeQueries encodes a poll answer.
func EncodeQueries(qs Queries) ([]byte, error) {
	qs.Schema = Schema
	if qs.Queries == nil {
		qs.Queries = []Query{}
	}
	for _, q := range qs.Queries {
		if err := q.Check(); err != nil {
			return nil, err
		}
	}
	return json.Marshal(qs)
}

// DecodeQueries decodes a poll answer strictly.
func DecodeQueries(b []byte) (Queries, error) {
	var qs Queries
	if err := strict(b, &qs); err != nil {
		return Queries{}, fmt.Errorf("looking-glass queries: %w", err)
	}
	if qs.Schema != Schema {
		return Queries{}, fmt.Errorf("looking-glass queries: schema %q, want %q", qs.Schema, Schema)
	}
	for _, q := range qs.Queries {
		if err := q.Check(); err != nil {
			return Queries{}, err
		}
	}
	if qs.Queries == nil {
		qs.Queries = []Query{}
	}
	return qs, nil
}

// EncodeAnswer encodes a checked answer with its lists present.
func EncodeAnswer(a Answer) ([]byte, error) {
	a = a.WithLists()
	if err := a.Check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(a)
	if err == nil && len(b) > MaxAnswer {
		err = fmt.Errorf("looking-glass answer: larger than %d bytes", MaxAnswer)
	}
	return b, err
}

// DecodeAnswer decodes and checks an answer.
func DecodeAnswer(b []byte) (Answer, error) {
	if len(b) > MaxAnswer {
		return Answer{}, fmt.Errorf("looking-glass answer: larger than %d bytes", MaxAnswer)
	}
	var a Answer
	if err := strict(b, &a); err != nil {
		return Answer{}, fmt.Errorf("looking-glass answer: %w", err)
	}
	if err := a.Check(); err != nil {
		return Answer{}, err
	}
	return a.WithLists(), nil
}

// WithLists returns a with absent lists empty: a list is never null. It
// copies the route lists it changes.
func (a Answer) WithLists() Answer {
	rs := make([]ReceivedRoute, len(a.Received))
	for i, r := range a.Received {
		if r.ASPath == nil {
			r.ASPath = []int64{}
		}
		rs[i] = r
	}
	as := make([]AdvertisedRoute, len(a.Advertised))
	for i, r := range a.Advertised {
		if r.ASPath == nil {
			r.ASPath = []int64{}
		}
		as[i] = r
	}
	a.Received, a.Advertised = rs, as
	return a
}

func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// Cut bounds the answer's lists to the contract's limits and says so.
func (a *Answer) Cut() {
	if len(a.Received) > MaxReceived {
		a.Received, a.ReceivedCut = a.Received[:MaxReceived], true
	}
	if len(a.Advertised) > MaxAdvertised {
		a.Advertised, a.AdvertisedCut = a.Advertised[:MaxAdvertised], true
	}
	a.State, a.Info, a.Error = Clip(a.State), Clip(a.Info), Clip(a.Error)
}
