// Package disposal is the report a hub node's agent sends when it has been
// decommissioned (`tsunagi agent decommission`, ISO/IEC 27017 11.2.7): what
// it removed from the node — each customer hub with its namespace, links,
// nftables tables, BIRD process and shaping, and each file of its state and
// run directories — and what it could not. It has the shape of package
// observed: a schema name and version, typed content, strict decoding and
// a check of what the controller records.
//
// The agent sends it after the whole wipe, its own key, certificate and CA
// included (the request is made with the key the client still holds in
// memory): the controller records it, revokes the node's certificate and
// refuses the node from then on.
//
// This package imports only the standard library, so that the agent and
// the controller share it without each other's packages.
package disposal

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"
)

// Schema names this version of the report.
const Schema = "tsunagi.node-disposal/v1"

// SchemaJSON is the JSON schema of a report (report.schema.json).
//
//go:embed report.schema.json
var SchemaJSON []byte

// Bounds of a report: far above what a node sends.
const (
	MaxReport = 1 << 20
	MaxItems  = 4096 // per list
	MaxText   = 2048 // bytes of a failure
	MaxName   = 255  // bytes of a hub ID or a file name
)

// Report is what a decommissioned node removed.
type Report struct {
	Schema       string    `json:"schema"`
	AgentVersion string    `json:"agent_version"`
	WipedAt      time.Time `json:"wiped_at"`
	// HubsRemoved are the data plane's hub IDs whose namespace hub-<id>,
	// links, nftables tables, BIRD and shaping were removed.
	HubsRemoved []string `json:"hubs_removed"`
	// FilesRemoved are the files removed from the agent's state and run
	// directories, relative to them ("state/node.key", "run/agent-holds.json").
	// The node's key, certificate and CA are among them once removed.
	FilesRemoved []string `json:"files_removed"`
	// Failures are what could not be removed; empty when the wipe is whole.
	Failures []string `json:"failures"`
}

var (
	versionRE = regexp.MustCompile(`^[A-Za-z0-9._+-]{1,64}$`)
	hubRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,30}$`)
)

// Complete reports whether the wipe removed everything it found.
func (r Report) Complete() bool { return len(r.Failures) == 0 }

// withLists makes absent lists empty, so that the encoding always has them.
func (r Report) withLists() Report {
	if r.HubsRemoved == nil {
		r.HubsRemoved = []string{}
	}
	if r.FilesRemoved == nil {
		r.FilesRemoved = []string{}
	}
	if r.Failures == nil {
		r.Failures = []string{}
	}
	return r
}

// Check refuses a report the controller must not record.
func (r Report) Check() error {
	switch {
	case r.Schema != Schema:
		return fmt.Errorf("disposal report: schema %q, want %q", r.Schema, Schema)
	case !versionRE.MatchString(r.AgentVersion):
		return errors.New("disposal report: agent_version is not a version")
	case r.WipedAt.IsZero():
		return errors.New("disposal report: wiped_at is missing")
	case len(r.HubsRemoved) > MaxItems || len(r.FilesRemoved) > MaxItems || len(r.Failures) > MaxItems:
		return fmt.Errorf("disposal report: a list longer than %d", MaxItems)
	}
	for _, h := range r.HubsRemoved {
		if !hubRE.MatchString(h) {
			return fmt.Errorf("disposal report: hub %q is not a data-plane hub ID", h)
		}
	}
	for _, f := range r.FilesRemoved {
		if f == "" || len(f) > MaxName || !utf8.ValidString(f) {
			return errors.New("disposal report: a file name is empty, too long or not UTF-8")
		}
	}
	for _, f := range r.Failures {
		if f == "" || len(f) > MaxText || !utf8.ValidString(f) {
			return errors.New("disposal report: a failure is empty, too long or not UTF-8")
		}
	}
	return nil
}

// Encode returns the report's encoding (JSON, no HTML escaping).
func Encode(r Report) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r.withLists()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode reads a report strictly — unknown fields and trailing data are
// refused — and checks it.
func Decode(b []byte) (Report, error) {
	if len(b) > MaxReport {
		return Report{}, fmt.Errorf("disposal report: larger than %d bytes", MaxReport)
	}
	var r Report
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Report{}, fmt.Errorf("disposal report: %w", err)
	}
	if dec.More() {
		return Report{}, errors.New("disposal report: trailing data")
	}
	if err := r.Check(); err != nil {
		return Report{}, err
	}
	return r.withLists(), nil
}

// Clip shortens s to at most MaxText bytes on a rune boundary.
func Clip(s string) string {
	if len(s) <= MaxText {
		return s
	}
	s = s[:MaxText]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
