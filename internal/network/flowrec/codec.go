package flowrec

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// SchemaJSON is the JSON schema of a batch (flowrecords.schema.json).
//
//go:embed flowrecords.schema.json
var SchemaJSON []byte

// Bounds of a batch. An agent sends every few seconds; MaxRecords is far
// above what a node's hubs end in that time at a normal rate and bounds
// what one request can make the controller decode and store. A record
// encodes in about 400 bytes, so MaxBatch leaves room for MaxRecords.
const (
	MaxBatch   = 8 << 20
	MaxRecords = 10000
	MaxDropped = 4096 // one per hub, as observed.MaxHubs
)

var idRE = regexp.MustCompile(`^[a-z]{2,8}_[a-z0-9_]{1,64}$`)

// Encode returns the batch's encoding (JSON, no HTML escaping), every
// list a list.
func Encode(b Batch) ([]byte, error) {
	b.Records, b.Dropped = nonNil(b.Records), nonNil(b.Dropped)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode reads a batch strictly — unknown fields and trailing data are
// refused — and checks it. A batch failing either is refused whole.
func Decode(data []byte) (Batch, error) {
	if len(data) > MaxBatch {
		return Batch{}, fmt.Errorf("flow records: larger than %d bytes", MaxBatch)
	}
	var b Batch
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return Batch{}, fmt.Errorf("flow records: %w", err)
	}
	if dec.More() {
		return Batch{}, errors.New("flow records: trailing data")
	}
	if err := b.Check(); err != nil {
		return Batch{}, err
	}
	b.Records, b.Dropped = nonNil(b.Records), nonNil(b.Dropped)
	return b, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Check validates what the controller relies on. It does not check that
// the hubs are the node's: only the controller knows the placement.
func (b Batch) Check() error {
	if b.Schema != Schema {
		return fmt.Errorf("flow records: schema %q, want %q", b.Schema, Schema)
	}
	if b.SentAt.IsZero() {
		return errors.New("flow records: sent_at is required")
	}
	if len(b.Records) > MaxRecords || len(b.Dropped) > MaxDropped {
		return fmt.Errorf("flow records: more than %d records or %d dropped counts", MaxRecords, MaxDropped)
	}
	for i, r := range b.Records {
		if err := r.Check(); err != nil {
			return fmt.Errorf("flow records: records[%d]: %w", i, err)
		}
	}
	seen := map[string]bool{}
	for i, d := range b.Dropped {
		if !idRE.MatchString(d.HubID) || !idRE.MatchString(d.CustomerID) || seen[d.HubID] {
			return fmt.Errorf("flow records: dropped[%d]: hub_id %q or customer_id %q is not an identifier, or repeated", i, d.HubID, d.CustomerID)
		}
		seen[d.HubID] = true
		if d.Count < 0 {
			return fmt.Errorf("flow records: dropped[%d]: negative count", i)
		}
	}
	return nil
}

// Check validates one record.
func (r Record) Check() error {
	if !idRE.MatchString(r.HubID) || !idRE.MatchString(r.CustomerID) {
		return fmt.Errorf("hub_id %q or customer_id %q is not an identifier", r.HubID, r.CustomerID)
	}
	if r.Start.IsZero() || r.End.Before(r.Start) {
		return errors.New("start is required and end is not before it")
	}
	if r.End.Sub(r.Start) > MaxLifetime {
		return fmt.Errorf("a connection lasting more than %s", MaxLifetime)
	}
	for _, a := range []Tuple{r.Original, r.Reply} {
		if !a.Src.IsValid() || !a.Dst.IsValid() || a.Src.Is4() != a.Dst.Is4() || a.Src.Zone() != "" || a.Dst.Zone() != "" {
			return errors.New("each tuple needs a source and destination address of one family, without zone")
		}
	}
	if r.Original.Src.Is4() != r.Reply.Src.Is4() {
		return errors.New("original and reply of different address families")
	}
	if want := Translation(r.Original, r.Reply); r.Translated != want {
		return fmt.Errorf("translated is %q, the tuples say %q", r.Translated, want)
	}
	return nil
}

// MaxLifetime bounds a connection's recorded lifetime: conntrack keeps an
// established TCP connection five days without traffic, and one can live
// far longer with it; a year is beyond any and catches a broken clock.
const MaxLifetime = 366 * 24 * time.Hour
