package custexport

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Schema names this version of the document.
const Schema = "tsunagi.customer-export/v1"

// SchemaJSON is the document's JSON schema.
//
//go:embed customerexport.schema.json
var SchemaJSON []byte

// MaxDocument bounds a document read back: every version of a long-lived
// customer fits many times over.
const MaxDocument = 32 << 20

// Document is a customer's export.
type Document struct {
	Schema      string      `json:"schema"`
	ExportedAt  time.Time   `json:"exported_at"`
	Deployment  Deployment  `json:"deployment"`
	Contracts   []Contract  `json:"contracts"`
	Hubs        []Hub       `json:"hubs"`
	Ports       []Port      `json:"ports"`
	HubSettings HubSettings `json:"hub_settings"`
	Versions    []Version   `json:"versions"`
	Draft       *Draft      `json:"draft"`
	// Monitors are the customer's reachability monitors (issue #15);
	// absent when it has none, and not imported: a monitor is added again
	// against the ports it names.
	Monitors []Monitor `json:"monitors,omitempty"`
	// Webhooks are the customer's event webhooks, without their secrets;
	// absent when there are none or the exporting account may not read
	// them. An import does not read them: a webhook is registered anew,
	// with a new secret.
	Webhooks []Webhook `json:"webhooks,omitempty"`
}

// Monitor is one reachability monitor as the customer saved it.
type Monitor struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	PortCode        string `json:"port_code"`
	Target          string `json:"target"`
	Probe           string `json:"probe"`
	TCPPort         int    `json:"tcp_port,omitempty"`
	IntervalSeconds int    `json:"interval_seconds"`
	FailAfter       int    `json:"fail_after"`
	Stopped         bool   `json:"stopped"`
}

// Deployment is where the customer's data is kept, as the customer sees it.
type Deployment struct {
	Regions []Region `json:"regions"`
}

// Region is a region of one of the customer's hubs.
type Region struct {
	Code         string `json:"code"`
	NameEN       string `json:"name_en"`
	NameJA       string `json:"name_ja"`
	DataLocation string `json:"data_location"`
}

// Contract is one contracted service.
type Contract struct {
	ServiceCode     string   `json:"service_code"`
	Plan            string   `json:"plan"`
	Status          string   `json:"status"`
	StartDate       string   `json:"start_date"`
	TerminationDate string   `json:"termination_date,omitempty"`
	Options         []Option `json:"options"`
}

// Option is an option bought on a contract.
type Option struct {
	Name     string `json:"name"`
	Quantity int64  `json:"quantity"`
}

// Hub is one of the customer's hubs.
type Hub struct {
	HubID       string `json:"hub_id"`
	ServiceCode string `json:"service_code"`
	Region      string `json:"region"`
	Priority    string `json:"priority"`
	// EndedAt is when the hub was removed; a removed hub is no longer the
	// customer's.
	EndedAt *time.Time `json:"ended_at,omitempty"`
}

// Port is one contracted port; SpeedMbps is the contracted speed on the
// day of the export.
type Port struct {
	PortCode    string `json:"port_code"`
	ServiceCode string `json:"service_code"`
	HubID       string `json:"hub_id"`
	Kind        string `json:"kind"`
	SpeedMbps   int64  `json:"speed_mbps"`
	Redundant   bool   `json:"redundant"`
	Status      string `json:"status"`
	// EndedAt is when the port ended (status cancelled); an importer
	// refuses a configuration of an ended port.
	EndedAt *time.Time `json:"ended_at,omitempty"`
}

// HubSettings are the deployment's settings that bound a configuration.
type HubSettings struct {
	RouteLimit      int    `json:"route_limit"`
	DefaultASN      uint32 `json:"default_asn"`
	BackboneOverlay string `json:"backbone_overlay"`
}

// Version is one applied configuration version.
type Version struct {
	Version     int64           `json:"version"`
	BaseVersion int64           `json:"base_version"`
	RollbackOf  *int64          `json:"rollback_of,omitempty"`
	AppliedAt   time.Time       `json:"applied_at"`
	AppliedBy   string          `json:"applied_by"`
	Config      json.RawMessage `json:"config"`
}

// Draft is the draft being edited when the export was made. The contracted
// speed changes a draft may ask for are contract items, not saved data,
// and are not exported.
type Draft struct {
	BaseVersion int64           `json:"base_version"`
	RollbackOf  *int64          `json:"rollback_of,omitempty"`
	UpdatedAt   time.Time       `json:"updated_at"`
	UpdatedBy   string          `json:"updated_by"`
	Config      json.RawMessage `json:"config"`
}

// Webhook is one event webhook as registered (its secret never leaves
// the controller).
type Webhook struct {
	URL         string    `json:"url"`
	Events      []string  `json:"events"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
}

// Error is a document that cannot be read: what is wrong (Code), the
// member at fault ("" for the document as a whole), the message in English
// and the values it carries (for callers that word it themselves).
type Error struct {
	Code    Code
	Field   string
	Message string
	Args    []any
}

// Code says what is wrong with a document.
type Code int

// The ways a document can fail to be read.
const (
	ErrTooLarge      Code = iota + 1 // Args: the limit in MiB
	ErrNotJSON                       // Args: the parser's complaint
	ErrNoSchema                      // Args: Schema
	ErrOtherSchema                   // Args: the document's schema name, Schema
	ErrUnknownMember                 // Args: Schema
	ErrWrongType                     // Args: the Go type wanted
	ErrTrailingData                  //
	ErrVersionOrder                  //
	ErrNotConfig                     //
	ErrNoDraft                       //
	ErrNoVersions                    //
	ErrNoSuchVersion                 // Args: the version number
	ErrBadChoice                     // Args: the choice as given
)

func (e *Error) Error() string {
	if e.Field == "" {
		return "customer export: " + e.Message
	}
	return "customer export: " + e.Field + ": " + e.Message
}

func fail(code Code, field, format string, a ...any) error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, a...), Args: a}
}

// Encode returns the document as two-space indented JSON with a trailing
// newline; lists keep the order they have (the exporter sorts them).
func Encode(d *Document) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("customer export: %w", err)
	}
	return buf.Bytes(), nil
}

// Decode reads a document strictly: the schema name first (a document of
// another version is refused as such, not as a pile of unknown members),
// then the whole envelope with unknown members refused, then Check.
func Decode(b []byte) (Document, error) {
	if len(b) > MaxDocument {
		return Document{}, fail(ErrTooLarge, "", "the document is larger than %d MiB", MaxDocument>>20)
	}
	var probe struct {
		Schema *string `json:"schema"`
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&probe); err != nil {
		return Document{}, fail(ErrNotJSON, "", "not a JSON object: %v", err)
	}
	switch {
	case probe.Schema == nil:
		return Document{}, fail(ErrNoSchema, "schema", "missing: this is not a tsunagi customer export (%s)", Schema)
	case *probe.Schema != Schema:
		return Document{}, fail(ErrOtherSchema, "schema", "%q is not a version this controller reads; it reads %s", *probe.Schema, Schema)
	}
	var d Document
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Document{}, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Document{}, fail(ErrTrailingData, "", "trailing data after the document")
	}
	if err := d.Check(); err != nil {
		return Document{}, err
	}
	return d, nil
}

// decodeError names the member encoding/json complains about.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fail(ErrWrongType, te.Field, "must be %s", te.Type)
	}
	// encoding/json words an unknown member as: json: unknown field "x".
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, err := strconv.Unquote(name); err == nil {
			name = n
		}
		return fail(ErrUnknownMember, name, "unknown member; %s has no such member", Schema)
	}
	return fail(ErrNotJSON, "", "not a JSON object: %v", err)
}

// Check verifies what the schema cannot say: versions are numbered from 1
// in ascending order without repeats, and every configuration is a JSON
// object.
func (d *Document) Check() error {
	if d.Schema != Schema {
		return fail(ErrOtherSchema, "schema", "%q is not a version this controller reads; it reads %s", d.Schema, Schema)
	}
	for i, v := range d.Versions {
		at := fmt.Sprintf("versions[%d]", i)
		if v.Version < 1 || (i > 0 && v.Version <= d.Versions[i-1].Version) {
			return fail(ErrVersionOrder, at+".version", "versions must be numbered from 1, oldest first, each once")
		}
		if !isObject(v.Config) {
			return fail(ErrNotConfig, at+".config", "must be a configuration object")
		}
	}
	if d.Draft != nil && !isObject(d.Draft.Config) {
		return fail(ErrNotConfig, "draft.config", "must be a configuration object")
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{'
}

// Choice selects the configuration of a document to import: the draft, a
// version by number, or (the zero Choice) the newest applied version.
type Choice struct {
	Version int64
	Draft   bool
}

// ParseChoice reads a choice as written in a request: "" (the newest
// applied version), "draft", or a version number.
func ParseChoice(s string) (Choice, error) {
	switch s {
	case "":
		return Choice{}, nil
	case "draft":
		return Choice{Draft: true}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return Choice{}, fail(ErrBadChoice, "version", "%q is neither a version number nor \"draft\"", s)
	}
	return Choice{Version: n}, nil
}

func (c Choice) String() string {
	switch {
	case c.Draft:
		return "draft"
	case c.Version > 0:
		return strconv.FormatInt(c.Version, 10)
	}
	return "newest"
}

// Pick returns the configuration c selects and the member that holds it
// (versions[i].config or draft.config), for naming problems in it.
func (d *Document) Pick(c Choice) (json.RawMessage, string, error) {
	switch {
	case c.Draft:
		if d.Draft == nil {
			return nil, "", fail(ErrNoDraft, "version", "the document holds no draft")
		}
		return d.Draft.Config, "draft.config", nil
	case c.Version == 0:
		if len(d.Versions) == 0 {
			return nil, "", fail(ErrNoVersions, "version", "the document holds no applied version; choose the draft")
		}
		i := len(d.Versions) - 1
		return d.Versions[i].Config, fmt.Sprintf("versions[%d].config", i), nil
	}
	i := slices.IndexFunc(d.Versions, func(v Version) bool { return v.Version == c.Version })
	if i < 0 {
		return nil, "", fail(ErrNoSuchVersion, "version", "the document holds no version %d", c.Version)
	}
	return d.Versions[i].Config, fmt.Sprintf("versions[%d].config", i), nil
}
