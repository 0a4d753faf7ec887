package network

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// The edit workflow (ISO/IEC 27017 14.2.1): start editing takes the
// customer's edit lock; edits accumulate in the customer's one draft; a
// review shows what would change and its risk; apply turns the draft into
// the next immutable configuration version. Every draft operation needs the
// lock, so two people cannot edit at once, and a draft whose base version is
// no longer current cannot be applied.

// Draft is the customer's configuration being edited.
type Draft struct {
	BaseVersion int64  `json:"base_version"`
	RollbackOf  *int64 `json:"rollback_of,omitempty"`
	Config      Config `json:"config"`
	// SpeedChanges are the contracted speed changes the customer asks for
	// (speedchange.go): not saved data but contract items, recorded as
	// bandwidth changes when the draft is applied.
	SpeedChanges []SpeedRequest `json:"speed_changes"`
	// PortRemovals are the contracted ports the customer removes
	// (ending.go): ended, their configuration gone, when applied.
	PortRemovals []string  `json:"port_removals"`
	UpdatedAt    time.Time `json:"updated_at"`
	UpdatedBy    string    `json:"updated_by"`
	// revision identifies the stored draft exactly (draftRevision); its
	// review carries it so that an apply can insist on the draft reviewed.
	revision string
}

// Version is an applied configuration version: the saved data as it was.
type Version struct {
	Version     int64     `json:"version"`
	BaseVersion int64     `json:"base_version"`
	RollbackOf  *int64    `json:"rollback_of,omitempty"`
	Config      Config    `json:"config"`
	Review      *Review   `json:"review,omitempty"`
	AppliedAt   time.Time `json:"applied_at"`
	AppliedBy   string    `json:"applied_by"`
}

// VersionSummary is a version in a list.
type VersionSummary struct {
	Version    int64     `json:"version"`
	RollbackOf *int64    `json:"rollback_of,omitempty"`
	Risk       string    `json:"risk"`
	Changes    int       `json:"changes"`
	AppliedAt  time.Time `json:"applied_at"`
	AppliedBy  string    `json:"applied_by"`
}

// Editing is the answer to "start editing": the lock and the draft.
type Editing struct {
	Lock  Lock  `json:"lock"`
	Draft Draft `json:"draft"`
}

func encodeConfig(c Config) (string, error) {
	b, err := json.Marshal(c)
	return string(b), err
}

// DecodeConfig reads a configuration document strictly: unknown fields and
// trailing data are refused.
func DecodeConfig(b []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, err
	}
	if dec.More() {
		return Config{}, errors.New("trailing data after the configuration")
	}
	return c, nil
}

// current returns the latest version number (0 before the first apply) and
// its configuration, normalized against today's facts.
func (s *core) current(ctx context.Context, q store.Querier, cust catalog.CustomerID) (int64, Config, error) {
	var n int64
	var raw string
	err := store.Scan(q.QueryRow(ctx, `SELECT version, config FROM net_versions WHERE customer_id = ?
		ORDER BY version DESC LIMIT 1`, cust), &n, &raw)
	var c Config
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return 0, c, fmt.Errorf("current version: %w", err)
	default:
		if c, err = storedConfig(q, cust, raw); err != nil {
			return 0, c, fmt.Errorf("version %d: %w", n, err)
		}
	}
	return n, c, nil
}

// Applied returns the applied configuration (version 0, empty, before any).
func (s *Workflow) Applied(ctx context.Context, sc tenant.Scope) (shown Version, err error) {
	defer shown.mask()
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return Version{}, err
	}
	n, _, err := s.current(ctx, s.db, cust)
	if err != nil {
		return Version{}, err
	}
	if n == 0 {
		f, err := s.facts(ctx, s.db, cust)
		if err != nil {
			return Version{}, err
		}
		var c Config
		Normalize(f, &c, s.settings)
		return Version{Config: c}, nil
	}
	return s.getVersion(ctx, s.db, cust, n)
}

// StartEditing takes (or refreshes) the customer's edit lock and returns it
// with the draft, creating the draft from the applied version when there is
// none. A lock held by someone else refuses with who and since when; an
// expired lock is taken over.
func (s *Workflow) StartEditing(ctx context.Context, sc tenant.Scope) (shown Editing, err error) {
	defer shown.mask()
	cust, err := sc.Authorize(identity.ActNetworkEdit)
	if err != nil {
		return Editing{}, err
	}
	var out Editing
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.takeLock(ctx, tx, cust); err != nil {
			return err
		}
		d, err := s.draft(ctx, tx, cust)
		if errors.Is(err, store.ErrNotFound) {
			d, err = s.newDraft(ctx, tx, cust, nil)
		}
		if err != nil {
			return err
		}
		out.Draft = d
		out.Lock, _, err = s.lock(ctx, tx, cust)
		return err
	})
	if err != nil {
		return Editing{}, fmt.Errorf("start editing: %w", err)
	}
	return out, nil
}

func (s *core) draft(ctx context.Context, q store.Querier, cust catalog.CustomerID) (Draft, error) {
	var d Draft
	var raw, at, speeds, removals string
	var rb *int64
	err := store.Scan(q.QueryRow(ctx, `SELECT base_version, rollback_of, config, updated_at, updated_by, speed_changes, port_removals FROM net_drafts WHERE customer_id = ?`, cust),
		&d.BaseVersion, &rb, &raw, &at, &d.UpdatedBy, &speeds, &removals)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal([]byte(removals), &d.PortRemovals); err != nil {
		return d, fmt.Errorf("draft: port removals: %w", err)
	}
	if err := json.Unmarshal([]byte(speeds), &d.SpeedChanges); err != nil {
		return d, fmt.Errorf("draft: speed changes: %w", err)
	}
	if d.SpeedChanges == nil {
		d.SpeedChanges = []SpeedRequest{}
	}
	d.RollbackOf = rb
	d.UpdatedAt, _ = clock.Parse(at)
	if d.Config, err = storedConfig(q, cust, raw); err != nil {
		return d, fmt.Errorf("draft: %w", err)
	}
	d.revision = draftRevision(d.BaseVersion, rb, raw, at, speeds+"\x00"+removals)
	return d, nil
}

// draftRevision identifies a stored draft: a hash of its row as stored.
// Every save writes the configuration anew (its secrets sealed with a fresh
// nonce) and its time, so a saved change, even back to the same content,
// gives a new revision; the hash reveals nothing of the sealed secrets.
func draftRevision(base int64, rollbackOf *int64, raw, at, speeds string) string {
	h := sha256.New()
	rb := int64(-1)
	if rollbackOf != nil {
		rb = *rollbackOf
	}
	fmt.Fprintf(h, "%d\x00%d\x00%s\x00%s\x00%s", base, rb, at, speeds, raw)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// newDraft makes the draft a copy of the current version, or of version
// rollbackOf when given.
func (s *core) newDraft(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, rollbackOf *int64) (Draft, error) {
	n, cfg, err := s.current(ctx, tx, cust)
	if err != nil {
		return Draft{}, err
	}
	if rollbackOf != nil {
		v, err := s.getVersion(ctx, tx, cust, *rollbackOf)
		if err != nil {
			return Draft{}, err
		}
		cfg = v.Config
	}
	f, err := s.facts(ctx, tx, cust)
	if err != nil {
		return Draft{}, err
	}
	Normalize(f, &cfg, s.settings)
	d := Draft{BaseVersion: n, RollbackOf: rollbackOf, Config: cfg, SpeedChanges: []SpeedRequest{}, PortRemovals: []string{}, UpdatedAt: s.now(), UpdatedBy: audit.ActorFrom(ctx).Name}
	return d, s.putDraft(ctx, tx, cust, d)
}

func (s *core) putDraft(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, d Draft) error {
	raw, err := encodeStored(tx, cust, d.Config)
	if err != nil {
		return err
	}
	if d.SpeedChanges == nil {
		d.SpeedChanges = []SpeedRequest{}
	}
	speeds, err := json.Marshal(d.SpeedChanges)
	if err != nil {
		return err
	}
	if d.PortRemovals == nil {
		d.PortRemovals = []string{}
	}
	removals, err := json.Marshal(d.PortRemovals)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM net_drafts WHERE customer_id = ?`, cust); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO net_drafts (customer_id, base_version, rollback_of, config, updated_at, updated_by, speed_changes, port_removals)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, cust, d.BaseVersion, d.RollbackOf, raw, clock.Store(d.UpdatedAt), d.UpdatedBy, string(speeds), string(removals))
	return err
}

// GetDraft returns the customer's draft (NotFound when there is none).
func (s *Workflow) GetDraft(ctx context.Context, sc tenant.Scope) (shown Draft, err error) {
	defer shown.mask()
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return Draft{}, err
	}
	d, err := s.draft(ctx, s.db, cust)
	return d, notFound("draft", err)
}

// SaveDraft replaces the draft's configuration. The configuration is
// normalized and must pass every validation rule; nothing is stored otherwise.
func (s *Workflow) SaveDraft(ctx context.Context, sc tenant.Scope, cfg Config) (shown Draft, err error) {
	defer shown.mask()
	cust, err := sc.Authorize(identity.ActNetworkEdit)
	if err != nil {
		return Draft{}, err
	}
	return s.editDraft(ctx, cust, "network.draft.save", nil, func(_ *Config) (Config, error) { return cfg, nil })
}

// refuseEnded refuses an edit of an ended port's configuration in the
// draft (409, as marking its removal is): the draft's normalisation would
// drop a saved configuration silently, and an ended port has none to
// remove. (A port ending meanwhile makes the system a version, which
// leaves this draft stale.) A code that is no port of the customer is left
// to the edit.
func (s *core) refuseEnded(ctx context.Context, cust catalog.CustomerID, code string) error {
	p, err := s.portRow(ctx, s.db, cust, code)
	switch {
	case err == nil && p.status != "active":
		return fault.New(fault.Conflict, "port %s has already ended", code)
	case err != nil && !fault.Is(err, fault.NotFound):
		return err
	}
	return nil
}

// SavePort replaces (or adds) one port's configuration in the draft. A
// problem in that port names its field relative to pc, the request's body.
// An ended port is refused (refuseEnded).
func (s *Workflow) SavePort(ctx context.Context, sc tenant.Scope, code string, pc PortConfig) (shown Draft, err error) {
	defer shown.mask()
	cust, err := sc.Authorize(identity.ActNetworkEdit)
	if err != nil {
		return Draft{}, err
	}
	if err := s.refuseEnded(ctx, cust, code); err != nil {
		return Draft{}, err
	}
	pc.PortCode = code
	var body string
	return s.editDraft(ctx, cust, "network.draft.port.save", &body, func(c *Config) (Config, error) {
		i := slices.IndexFunc(c.Ports, func(p PortConfig) bool { return p.PortCode == code })
		if i < 0 {
			i, c.Ports = len(c.Ports), append(c.Ports, pc)
		} else {
			c.Ports[i] = pc
		}
		body = fmt.Sprintf("ports[%d]", i)
		return *c, nil
	})
}

// RemovePort removes one port's configuration from the draft. An ended
// port is refused (refuseEnded).
func (s *Workflow) RemovePort(ctx context.Context, sc tenant.Scope, code string) (shown Draft, err error) {
	defer shown.mask()
	cust, err := sc.Authorize(identity.ActNetworkEdit)
	if err != nil {
		return Draft{}, err
	}
	if err := s.refuseEnded(ctx, cust, code); err != nil {
		return Draft{}, err
	}
	return s.editDraft(ctx, cust, "network.draft.port.remove", nil, func(c *Config) (Config, error) {
		for i := range c.Ports {
			if c.Ports[i].PortCode == code {
				c.Ports = append(c.Ports[:i], c.Ports[i+1:]...)
				return *c, nil
			}
		}
		return *c, fault.New(fault.NotFound, "port %s is not configured in the draft", code)
	})
}

// lockedDraft returns the customer's draft for an edit — a copy of the
// current version when there is none — once the caller is known to hold
// the edit lock.
func (s *core) lockedDraft(ctx context.Context, tx *store.Tx, cust catalog.CustomerID) (Draft, error) {
	if err := s.holdLock(ctx, tx, cust); err != nil {
		return Draft{}, err
	}
	d, err := s.draft(ctx, tx, cust)
	if errors.Is(err, store.ErrNotFound) {
		return s.newDraft(ctx, tx, cust, nil)
	}
	return d, err
}

// editDraft applies edit to the draft (a copy of the current version when
// there is none) and stores the result if it passes validation. When edit
// sets *body to a list element of the configuration (the element that the
// request's body is), problems in it are named relative to it.
func (s *core) editDraft(ctx context.Context, cust catalog.CustomerID, action string, body *string,
	edit func(*Config) (Config, error)) (Draft, error) {
	return s.editDraftWith(ctx, cust, action, body, nil, false, edit)
}

// editDraftWith is editDraft that first takes the edit lock (as
// StartEditing does) when take is set, in the same transaction, and adds
// detail to the audit event.
func (s *core) editDraftWith(ctx context.Context, cust catalog.CustomerID, action string, body *string, detail map[string]any, take bool,
	edit func(*Config) (Config, error)) (Draft, error) {
	var d Draft
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if take {
			if err := s.takeLock(ctx, tx, cust); err != nil {
				return err
			}
		}
		if d, err = s.lockedDraft(ctx, tx, cust); err != nil {
			return err
		}
		prev := d.Config
		prev.Ports = append([]PortConfig(nil), d.Config.Ports...)
		cfg, err := edit(&d.Config)
		if err != nil {
			return err
		}
		if err := restoreSecrets(&cfg, prev); err != nil {
			return err
		}
		f, err := s.facts(ctx, tx, cust)
		if err != nil {
			return err
		}
		// Problems name the elements as the client sent them, not where
		// Normalize has sorted them.
		org := normalize(f, &cfg, s.settings)
		ps := Validate(f, cfg, s.settings).Remap(org)
		if body != nil && *body != "" {
			ps = ps.Within(*body)
		}
		if err := ps.Err(); err != nil {
			return err
		}
		d.Config, d.UpdatedAt, d.UpdatedBy = cfg, s.now(), audit.ActorFrom(ctx).Name
		if err := s.putDraft(ctx, tx, cust, d); err != nil {
			return err
		}
		noted := map[string]any{"base_version": d.BaseVersion}
		maps.Copy(noted, detail)
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: action, Target: "customer:" + string(cust), CustomerID: string(cust),
			Detail: noted})
	})
	if err != nil {
		return Draft{}, fmt.Errorf("save draft: %w", err)
	}
	return d, nil
}

// DiscardDraft drops the draft; the lock stays with the caller.
func (s *Workflow) DiscardDraft(ctx context.Context, sc tenant.Scope) error {
	cust, err := sc.Authorize(identity.ActNetworkEdit)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.holdLock(ctx, tx, cust); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM net_drafts WHERE customer_id = ?`, cust)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fault.New(fault.NotFound, "there is no draft")
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "network.draft.discard", Target: "customer:" + string(cust), CustomerID: string(cust)})
	})
}

// Rollback makes a new draft holding version n's configuration, on top of
// the current version; it is reviewed and applied like any other draft.
func (s *Workflow) Rollback(ctx context.Context, sc tenant.Scope, n int64) (shown Draft, err error) {
	defer shown.mask()
	cust, err := sc.Authorize(identity.ActNetworkEdit)
	if err != nil {
		return Draft{}, err
	}
	var d Draft
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.holdLock(ctx, tx, cust); err != nil {
			return err
		}
		if err := s.refuseEndedPorts(ctx, tx, cust, n); err != nil {
			return err
		}
		var err error
		if d, err = s.newDraft(ctx, tx, cust, &n); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "network.draft.rollback", Target: "customer:" + string(cust), CustomerID: string(cust),
			Detail: map[string]any{"rollback_of": n, "base_version": d.BaseVersion}})
	})
	if err != nil {
		return Draft{}, fmt.Errorf("rollback: %w", err)
	}
	return d, nil
}

// Review reviews the customer's draft against the applied version.
func (s *Workflow) Review(ctx context.Context, sc tenant.Scope) (Review, error) {
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return Review{}, err
	}
	var r Review
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		d, err := s.draft(ctx, tx, cust)
		if err != nil {
			return notFound("draft", err)
		}
		r, err = s.review(ctx, tx, cust, d)
		return err
	})
	return r, err
}

func (s *core) review(ctx context.Context, q store.Querier, cust catalog.CustomerID, d Draft) (Review, error) {
	n, applied, err := s.current(ctx, q, cust)
	if err != nil {
		return Review{}, err
	}
	f, err := s.facts(ctx, q, cust)
	if err != nil {
		return Review{}, err
	}
	// Before the first apply nothing is deployed: the review compares with
	// an empty configuration, so everything is "added" and nothing "changed".
	if n == 0 {
		applied = Config{Hubs: []HubConfig{}, Ports: []PortConfig{},
			Objects: Objects{Addresses: []AddressObject{}, Services: []ServiceObject{}, Applications: []ApplicationObject{}}}
	}
	cfg := d.Config
	Normalize(f, &cfg, s.settings)
	cfg = withoutPorts(cfg, d.PortRemovals)
	r := BuildReview(f, applied, cfg, s.settings)
	if err := s.reviewRemovals(ctx, q, cust, f, applied, d.PortRemovals, &r); err != nil {
		return Review{}, err
	}
	ps, err := vlanProblems(ctx, q, cust, cfg)
	if err != nil {
		return Review{}, err
	}
	if len(ps) > 0 {
		r.Problems = append(r.Problems, ps...)
		r.Valid = false
	}
	if err := s.reviewSpeeds(ctx, q, cust, d.SpeedChanges, &r); err != nil {
		return Review{}, err
	}
	r.BaseVersion, r.CurrentVersion, r.Revision = d.BaseVersion, n, d.revision
	if d.BaseVersion != n {
		r.Stale = true
		r.Problems = append(r.Problems, Problem{Field: "base_version",
			Message: fmt.Sprintf("the draft was made from version %d but version %d is now applied; discard it and start again", d.BaseVersion, n)})
		r.Valid = false
	}
	return r, nil
}

// Apply applies the caller's draft: it must be based on the current version
// and valid; it becomes version current+1 with its review, NAT addresses are
// allocated, the draft and the lock are released, and the audit log records
// the review. The desired state of the customer's hub nodes follows from the
// new version (DesiredState).
func (s *Workflow) Apply(ctx context.Context, sc tenant.Scope) (shown Version, err error) {
	return s.ApplyReviewed(ctx, sc, "")
}

// ErrDraftChanged refuses an apply of a draft that changed after the review
// the caller saw (Review.Revision): another session of the same account
// saved into it meanwhile.
var ErrDraftChanged = fault.Coded(fault.Conflict, "draft_changed",
	"the draft has changed since it was reviewed; review it again before applying")

// ApplyReviewed is Apply of exactly the draft a review showed: reviewed is
// that review's Revision, and a draft saved since is refused
// (ErrDraftChanged). An empty reviewed applies the draft as it is now, as
// Apply does.
func (s *Workflow) ApplyReviewed(ctx context.Context, sc tenant.Scope, reviewed string) (shown Version, err error) {
	defer shown.mask()
	cust, err := sc.Authorize(identity.ActNetworkEdit)
	if err != nil {
		return Version{}, err
	}
	var v Version
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.holdLock(ctx, tx, cust); err != nil {
			return err
		}
		// The VLAN check below decides on what other customers have
		// applied and placed: hold their physical ports still.
		if err := lockVLANs(ctx, tx, cust); err != nil {
			return err
		}
		d, err := s.draft(ctx, tx, cust)
		if err != nil {
			return notFound("draft", err)
		}
		r, err := s.review(ctx, tx, cust, d)
		if err != nil {
			return err
		}
		if reviewed != "" && reviewed != r.Revision {
			return ErrDraftChanged
		}
		if r.Stale {
			return fault.New(fault.Conflict, "%s", r.Problems[len(r.Problems)-1].Message)
		}
		if err := r.Problems.Err(); err != nil {
			return err
		}
		if len(r.Changes) == 0 && r.CurrentVersion > 0 {
			return fault.New(fault.Conflict, "the draft makes no change to version %d; discard it instead", r.CurrentVersion)
		}
		cfg := d.Config
		f, err := s.facts(ctx, tx, cust)
		if err != nil {
			return err
		}
		Normalize(f, &cfg, s.settings)
		// The ports removed end (ending.go) with the version that drops
		// their configuration.
		cfg = withoutPorts(cfg, d.PortRemovals)
		raw, err := encodeStored(tx, cust, cfg)
		if err != nil {
			return err
		}
		rev, err := json.Marshal(r)
		if err != nil {
			return err
		}
		v = Version{Version: r.CurrentVersion + 1, BaseVersion: d.BaseVersion, RollbackOf: d.RollbackOf, Config: cfg, Review: &r,
			AppliedAt: s.now(), AppliedBy: audit.ActorFrom(ctx).Name}
		if _, err := tx.Exec(ctx, `INSERT INTO net_versions (customer_id, version, base_version, rollback_of, config, review, applied_at, applied_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, cust, v.Version, v.BaseVersion, v.RollbackOf, raw, string(rev), clock.Store(v.AppliedAt), v.AppliedBy); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fault.Wrap(fault.Conflict, err, "another version was applied at the same time")
			}
			return err
		}
		if err := s.ensureVNI(ctx, tx, cust); err != nil {
			return err
		}
		if err := s.allocateNAT(ctx, tx, cust, f, cfg); err != nil {
			return err
		}
		if err := s.endRemovedPorts(ctx, tx, cust, r.Removals); err != nil {
			return err
		}
		// The speed changes the review showed become bandwidth changes,
		// admitted as the operator's are; any refusal undoes the apply.
		for _, sr := range d.SpeedChanges {
			in := BandwidthInput{SpeedMbps: sr.SpeedMbps, EffectiveDate: sr.EffectiveDate}
			if err := s.checkBandwidthInput(in); err != nil {
				return err
			}
			if _, err := s.recordBandwidthChange(ctx, tx, cust, sr.PortCode, in); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM net_drafts WHERE customer_id = ?`, cust); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM net_locks WHERE customer_id = ?`, cust); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "network.apply", Target: fmt.Sprintf("customer:%s/version:%d", cust, v.Version),
			CustomerID: string(cust), Detail: r.auditDetail(v.Version)})
	})
	if err != nil {
		return Version{}, fmt.Errorf("apply: %w", err)
	}
	return v, nil
}

// GetVersion returns one applied version with its review.
func (s *Workflow) GetVersion(ctx context.Context, sc tenant.Scope, n int64) (shown Version, err error) {
	defer shown.mask()
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return Version{}, err
	}
	return s.getVersion(ctx, s.db, cust, n)
}

func (s *core) getVersion(ctx context.Context, q store.Querier, cust catalog.CustomerID, n int64) (Version, error) {
	var v Version
	var raw, rev, at string
	err := store.Scan(q.QueryRow(ctx, `SELECT version, base_version, rollback_of, config, review, applied_at, applied_by
		FROM net_versions WHERE customer_id = ? AND version = ?`, cust, n), &v.Version, &v.BaseVersion, &v.RollbackOf, &raw, &rev, &at, &v.AppliedBy)
	if err != nil {
		return v, notFound("version", err)
	}
	v.AppliedAt, _ = clock.Parse(at)
	if v.Config, err = storedConfig(q, cust, raw); err != nil {
		return v, fmt.Errorf("version %d: %w", n, err)
	}
	var r Review
	if err := json.Unmarshal([]byte(rev), &r); err != nil {
		return v, fmt.Errorf("version %d review: %w", n, err)
	}
	v.Review = &r
	return v, nil
}

// ListVersions lists the customer's versions, newest first, before the
// version number `before` (0 = from the newest).
func (s *Workflow) ListVersions(ctx context.Context, sc tenant.Scope, before int64, limit int) ([]VersionSummary, error) {
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > catalog.MaxPage {
		limit = 50
	}
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := s.db.Query(ctx, `SELECT version, rollback_of, review, applied_at, applied_by FROM net_versions
		WHERE customer_id = ? AND version < ? ORDER BY version DESC LIMIT ?`, cust, before, limit)
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	defer rows.Close()
	out := []VersionSummary{}
	for rows.Next() {
		var v VersionSummary
		var rev, at string
		if err := rows.Scan(&v.Version, &v.RollbackOf, &rev, &at, &v.AppliedBy); err != nil {
			return nil, fmt.Errorf("list versions: %w", err)
		}
		var r Review
		_ = json.Unmarshal([]byte(rev), &r) // written by Apply; a failure leaves the summary empty
		v.Risk, v.Changes = r.Risk, len(r.Changes)
		v.AppliedAt, _ = clock.Parse(at)
		out = append(out, v)
	}
	return out, rows.Err()
}
