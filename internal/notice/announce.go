package notice

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// The operator's drafts of announcements and incidents: written, edited
// and read before anything reaches a customer. Publishing and what comes
// after it are in lifecycle.go.

// Draft is the operator's input for a new or edited draft.
type Draft struct {
	Kind, Category, Severity         string // Kind: Announcement|Incident
	TitleJA, TitleEN, BodyJA, BodyEN string
	StartsAt, EndsAt                 *time.Time
	Scope                            Scope
	AffectsForwarding, Security      bool
	DataAffected                     string
}

// Detail is a notice with its history and the customers it reached.
type Detail struct {
	Notice    Notice             `json:"notice"`
	Updates   []Update           `json:"updates"`
	Customers []AffectedCustomer `json:"customers"` // reached so far (empty for a draft)
}

// Query selects notices for the operator's list.
type Query struct {
	Kind, Status string
	Security     bool   // only security incidents
	After        string // the last ID of the previous page
	Limit        int    // 1–500, default 50
}

// Categories of each kind. The first three announcement categories always
// touch forwarding (forwardingCategories).
var (
	announcementCategories = []string{"maintenance", "migration", "speed-change", "service-change", "other"}
	incidentCategories     = []string{"outage", "degradation", "security", "other"}
	forwardingCategories   = []string{"maintenance", "migration", "speed-change"}
	severities             = []string{"critical", "major", "minor"}
	incidentStatuses       = []string{StatusInvestigating, StatusIdentified, StatusMonitoring, StatusResolved}
)

// Categories returns the categories of kind (Announcement or Incident), for
// the pages that name them; nil for another kind.
func Categories(kind string) []string {
	switch kind {
	case Announcement:
		return slices.Clone(announcementCategories)
	case Incident:
		return slices.Clone(incidentCategories)
	}
	return nil
}

// Limits of the texts.
const (
	maxTitle        = 200
	maxBody         = 20000
	maxDataAffected = 2000
)

// validate checks d and returns it normalised: the forwarding flag forced
// where the category implies it, the scope's names trimmed.
func validate(d Draft) (Draft, error) {
	d.Scope = normScope(d.Scope)
	d.DataAffected = strings.TrimSpace(d.DataAffected)
	switch d.Kind {
	case Announcement:
		if !slices.Contains(announcementCategories, d.Category) {
			return d, fault.Field("category", "an announcement's category is one of %s", strings.Join(announcementCategories, ", "))
		}
		if d.Severity != "" {
			return d, fault.Field("severity", "only an incident has a severity")
		}
		if d.Security {
			return d, fault.Field("security", "only an incident is a security incident")
		}
		if slices.Contains(forwardingCategories, d.Category) {
			d.AffectsForwarding = true
		}
	case Incident:
		if !slices.Contains(incidentCategories, d.Category) {
			return d, fault.Field("category", "an incident's category is one of %s", strings.Join(incidentCategories, ", "))
		}
		if !slices.Contains(severities, d.Severity) {
			return d, fault.Field("severity", "an incident's severity is one of %s", strings.Join(severities, ", "))
		}
		// A security incident is a breach notice (5.1.1): its category
		// alone makes it one, so that it cannot skip the statement of the
		// data affected and the officer's record.
		if d.Category == "security" {
			d.Security = true
		}
		// Planned work is an announcement, with its notice period; an
		// incident starts when it started.
		if d.StartsAt != nil && d.StartsAt.After(clock.Now()) {
			return d, fault.Field("starts_at", "an incident cannot start in the future: announce planned work as an announcement")
		}
	default:
		return d, fault.Field("kind", "the kind is announcement or incident")
	}
	for _, t := range []struct{ field, text string }{{"title_ja", d.TitleJA}, {"title_en", d.TitleEN}} {
		if err := checkTitle(t.field, t.text); err != nil {
			return d, err
		}
	}
	for _, b := range []struct{ field, text string }{{"body_ja", d.BodyJA}, {"body_en", d.BodyEN}} {
		if err := checkBody(b.field, b.text, true); err != nil {
			return d, err
		}
	}
	if d.Security && d.DataAffected == "" {
		return d, fault.Field("data_affected", "a security incident states what data it affected")
	}
	if !d.Security && d.DataAffected != "" {
		return d, fault.Field("data_affected", "only a security incident states the data affected")
	}
	if err := checkDataAffected(d.DataAffected); err != nil {
		return d, err
	}
	if d.Kind == Announcement && d.AffectsForwarding && d.StartsAt == nil {
		return d, fault.Field("starts_at", "a change that touches forwarding needs its start time")
	}
	if d.EndsAt != nil && d.StartsAt == nil {
		return d, fault.Field("starts_at", "an end time needs a start time")
	}
	if d.StartsAt != nil && d.EndsAt != nil && !d.EndsAt.After(*d.StartsAt) {
		return d, fault.Field("ends_at", "the end is after the start")
	}
	if emptyScope(d.Scope) {
		return d, fault.Field("scope", "the scope names nothing: name the regions, nodes, physical ports, hubs or customers concerned")
	}
	return d, nil
}

// checkDataAffected refuses a statement of the data affected that is too
// long or not text.
func checkDataAffected(s string) error {
	if text.MultiLine(s) != "" {
		return fault.Field("data_affected", "the statement of the data affected holds control characters")
	}
	if utf8.RuneCountInString(s) > maxDataAffected {
		return fault.Field("data_affected", "the statement of the data affected is at most %d characters", maxDataAffected)
	}
	return nil
}

// checkTitle refuses a title that is empty, too long or not one line: it
// goes into mail subjects and page headings.
func checkTitle(field, s string) error {
	if strings.TrimSpace(s) == "" {
		return fault.Field(field, "the title is required in Japanese and in English")
	}
	if text.SingleLine(s) != "" {
		return fault.Field(field, "the title is one line without control characters")
	}
	if utf8.RuneCountInString(s) > maxTitle {
		return fault.Field(field, "the title is at most %d characters", maxTitle)
	}
	return nil
}

// checkBody refuses a body that is too long or not text (and an empty one
// when required). HTML in it is kept as typed: every output escapes it.
func checkBody(field, s string, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return fault.Field(field, "the text is required in Japanese and in English")
	}
	if text.MultiLine(s) != "" {
		return fault.Field(field, "the text holds control characters")
	}
	if utf8.RuneCountInString(s) > maxBody {
		return fault.Field(field, "the text is at most %d characters", maxBody)
	}
	return nil
}

// Create stores a new draft.
func (s *Service) Create(ctx context.Context, d Draft) (Notice, error) {
	var n Notice
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		n, err = s.insertDraft(ctx, tx, SourceOperator, "", d)
		return err
	})
	return n, err
}

// OpenAutoDraft inserts, inside tx, an incident draft that the platform
// opened itself from source (the condition it saw), keyed by autoKey: one
// draft per condition episode, so created is false (and n the existing
// draft) when autoKey is already taken. Two controllers inserting the same
// key at once: the second transaction fails with a conflict.
func (s *Service) OpenAutoDraft(ctx context.Context, tx *store.Tx, source, autoKey string, d Draft) (Notice, bool, error) {
	if autoKey == "" || source == "" || source == SourceOperator {
		return Notice{}, false, fault.New(fault.Internal, "an automatic draft needs its source and key")
	}
	if d.Kind != Incident {
		return Notice{}, false, fault.Field("kind", "an automatic draft is an incident")
	}
	var id string
	err := store.Scan(tx.QueryRow(ctx, `SELECT id FROM notices WHERE auto_key = ?`, autoKey), &id)
	if err == nil {
		n, err := loadNotice(ctx, tx, id)
		return n, false, err
	}
	if !fault.Is(err, fault.NotFound) {
		return Notice{}, false, err
	}
	n, err := s.insertDraft(ctx, tx, source, autoKey, d)
	return n, err == nil, err
}

func (s *Service) insertDraft(ctx context.Context, tx *store.Tx, source, autoKey string, d Draft) (Notice, error) {
	d, err := validate(d)
	if err != nil {
		return Notice{}, err
	}
	if _, err := Resolve(ctx, tx, d.Scope); err != nil {
		return Notice{}, err
	}
	actor := audit.ActorFrom(ctx)
	now := clock.Now()
	id := ids.New("ntc")
	scope, err := json.Marshal(d.Scope)
	if err != nil {
		return Notice{}, err
	}
	var key any
	if autoKey != "" {
		key = autoKey
	}
	if _, err := tx.Exec(ctx, `INSERT INTO notices (id, kind, category, severity, status, title_ja, title_en, body_ja, body_en,
		starts_at, ends_at, scope, affects_forwarding, security, data_affected, source, auto_key, created_by, created_at, updated_at, revision)
		VALUES (?, ?, ?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
		id, d.Kind, d.Category, d.Severity, d.TitleJA, d.TitleEN, d.BodyJA, d.BodyEN, optTime(d.StartsAt), optTime(d.EndsAt),
		string(scope), d.AffectsForwarding, d.Security, d.DataAffected, source, key, actor.ID, clock.Store(now), clock.Store(now)); err != nil {
		return Notice{}, fmt.Errorf("notice create: %w", err)
	}
	if err := addUpdate(ctx, tx, id, 1, "create", StatusDraft, d.TitleJA, d.TitleEN, d.BodyJA, d.BodyEN, now, actor.ID); err != nil {
		return Notice{}, err
	}
	if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "notice.create", Target: "notice:" + id,
		Detail: map[string]any{"kind": d.Kind, "category": d.Category, "source": source}}); err != nil {
		return Notice{}, err
	}
	return loadNotice(ctx, tx, id)
}

// Edit replaces a draft's content. An approval given earlier is dropped:
// the officer approved that text and that date, not the new ones.
func (s *Service) Edit(ctx context.Context, id string, d Draft) (Notice, error) {
	var n Notice
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := loadNotice(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.Status != StatusDraft {
			return fault.New(fault.Conflict, "only a draft is edited; a published notice takes updates")
		}
		if d.Kind != cur.Kind {
			return fault.Field("kind", "a draft keeps its kind")
		}
		d, err = validate(d)
		if err != nil {
			return err
		}
		if _, err := Resolve(ctx, tx, d.Scope); err != nil {
			return err
		}
		scope, err := json.Marshal(d.Scope)
		if err != nil {
			return err
		}
		actor := audit.ActorFrom(ctx)
		now := clock.Now()
		seq := cur.Revision + 1
		res, err := tx.Exec(ctx, `UPDATE notices SET category = ?, severity = ?, title_ja = ?, title_en = ?, body_ja = ?, body_en = ?,
			starts_at = ?, ends_at = ?, scope = ?, affects_forwarding = ?, security = ?, data_affected = ?,
			approved_by = NULL, approval_reason = '', approved_at = NULL, updated_at = ?, revision = ?
			WHERE id = ? AND status = 'draft' AND revision = ?`,
			d.Category, d.Severity, d.TitleJA, d.TitleEN, d.BodyJA, d.BodyEN, optTime(d.StartsAt), optTime(d.EndsAt), string(scope),
			d.AffectsForwarding, d.Security, d.DataAffected, clock.Store(now), seq, id, cur.Revision)
		if err != nil {
			return fmt.Errorf("notice edit: %w", err)
		}
		if err := changedOne(res); err != nil {
			return err
		}
		if err := addUpdate(ctx, tx, id, seq, "edit", StatusDraft, d.TitleJA, d.TitleEN, d.BodyJA, d.BodyEN, now, actor.ID); err != nil {
			return err
		}
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "notice.edit", Target: "notice:" + id,
			Detail: map[string]any{"kind": d.Kind, "category": d.Category, "approval_dropped": cur.ApprovedAt != nil}}); err != nil {
			return err
		}
		n, err = loadNotice(ctx, tx, id)
		return err
	})
	return n, err
}

// Get returns a notice with its whole history and the customers it reached.
func (s *Service) Get(ctx context.Context, id string) (Detail, error) {
	n, err := loadNotice(ctx, s.db, id)
	if err != nil {
		return Detail{}, err
	}
	d := Detail{Notice: n, Updates: []Update{}, Customers: []AffectedCustomer{}}
	rows, err := s.db.Query(ctx, `SELECT seq, kind, status, title_ja, title_en, body_ja, body_en, at, by_account
		FROM notice_updates WHERE notice_id = ? ORDER BY seq`, id)
	if err != nil {
		return Detail{}, fmt.Errorf("notice: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u Update
		var at string
		if err := rows.Scan(&u.Seq, &u.Kind, &u.Status, &u.TitleJA, &u.TitleEN, &u.BodyJA, &u.BodyEN, &at, &u.By); err != nil {
			return Detail{}, fmt.Errorf("notice: %w", err)
		}
		if u.At, err = clock.Parse(at); err != nil {
			return Detail{}, err
		}
		d.Updates = append(d.Updates, u)
	}
	if err := rows.Err(); err != nil {
		return Detail{}, store.Wrap(err)
	}
	d.Customers, err = reached(ctx, s.db, id)
	return d, err
}

// reached returns the customers a notice reached so far, by ID.
func reached(ctx context.Context, q store.Querier, id string) ([]AffectedCustomer, error) {
	rows, err := q.Query(ctx, `SELECT nc.customer_id, c.name, nc.reasons FROM notice_customers nc
		JOIN customers c ON c.id = nc.customer_id WHERE nc.notice_id = ? ORDER BY nc.customer_id`, id)
	if err != nil {
		return nil, fmt.Errorf("notice: %w", err)
	}
	defer rows.Close()
	out := []AffectedCustomer{}
	for rows.Next() {
		var c AffectedCustomer
		var reasons string
		if err := rows.Scan(&c.CustomerID, &c.Name, &reasons); err != nil {
			return nil, fmt.Errorf("notice: %w", err)
		}
		if err := json.Unmarshal([]byte(reasons), &c.Reasons); err != nil {
			return nil, fmt.Errorf("notice %s reasons: %w", id, err)
		}
		out = append(out, c)
	}
	return out, store.Wrap(rows.Err())
}

// List returns notices, the most recently created first.
func (s *Service) List(ctx context.Context, q Query) ([]Notice, error) {
	if q.Limit == 0 {
		q.Limit = 50
	}
	if q.Limit < 1 || q.Limit > 500 {
		return nil, fault.Field("limit", "the limit is 1 to 500")
	}
	where := []string{"1 = 1"}
	var args []any
	if q.Kind != "" {
		if q.Kind != Announcement && q.Kind != Incident {
			return nil, fault.Field("kind", "the kind is announcement or incident")
		}
		where, args = append(where, "kind = ?"), append(args, q.Kind)
	}
	if q.Status != "" {
		if !slices.Contains(append([]string{StatusDraft, StatusPublished, StatusCancelled}, incidentStatuses...), q.Status) {
			return nil, fault.Field("status", "unknown status %q", q.Status)
		}
		where, args = append(where, "status = ?"), append(args, q.Status)
	}
	if q.Security {
		where = append(where, "security = ?")
		args = append(args, true)
	}
	if q.After != "" {
		var created string
		if err := store.Scan(s.db.QueryRow(ctx, `SELECT created_at FROM notices WHERE id = ?`, q.After), &created); err != nil {
			return nil, fault.Field("after", "no notice %s to page after", q.After)
		}
		where = append(where, "(created_at < ? OR (created_at = ? AND id < ?))")
		args = append(args, created, created, q.After)
	}
	args = append(args, q.Limit)
	return listNotices(ctx, s.db, strings.Join(where, " AND ")+" ORDER BY created_at DESC, id DESC LIMIT ?", args...)
}

const noticeColumns = `id, kind, category, severity, status, title_ja, title_en, body_ja, body_en, starts_at, ends_at, scope,
	affects_forwarding, security, data_affected, source, approved_by, approval_reason, approved_at, created_by, created_at,
	published_at, updated_at, revision`

func scanNotice(sc interface{ Scan(...any) error }) (Notice, error) {
	var n Notice
	var starts, ends, approvedBy, approvedAt, published sql.NullString
	var scope, created, updated string
	if err := sc.Scan(&n.ID, &n.Kind, &n.Category, &n.Severity, &n.Status, &n.TitleJA, &n.TitleEN, &n.BodyJA, &n.BodyEN,
		&starts, &ends, &scope, &n.AffectsForwarding, &n.Security, &n.DataAffected, &n.Source, &approvedBy, &n.ApprovalReason,
		&approvedAt, &n.CreatedBy, &created, &published, &updated, &n.Revision); err != nil {
		return n, err
	}
	if err := json.Unmarshal([]byte(scope), &n.Scope); err != nil {
		return n, fmt.Errorf("notice %s scope: %w", n.ID, err)
	}
	n.Scope = normScope(n.Scope)
	n.ApprovedBy = approvedBy.String
	var err error
	for _, t := range []struct {
		s   sql.NullString
		dst **time.Time
	}{{starts, &n.StartsAt}, {ends, &n.EndsAt}, {approvedAt, &n.ApprovedAt}, {published, &n.PublishedAt}} {
		if t.s.Valid {
			v, err := clock.Parse(t.s.String)
			if err != nil {
				return n, err
			}
			*t.dst = &v
		}
	}
	if n.CreatedAt, err = clock.Parse(created); err != nil {
		return n, err
	}
	n.UpdatedAt, err = clock.Parse(updated)
	return n, err
}

func loadNotice(ctx context.Context, q store.Querier, id string) (Notice, error) {
	n, err := scanNotice(q.QueryRow(ctx, `SELECT `+noticeColumns+` FROM notices WHERE id = ?`, id))
	if err != nil {
		if fault.Is(store.Wrap(err), fault.NotFound) {
			return n, fault.New(fault.NotFound, "no such notice")
		}
		return n, fmt.Errorf("notice %s: %w", id, store.Wrap(err))
	}
	return n, nil
}

func listNotices(ctx context.Context, q store.Querier, cond string, args ...any) ([]Notice, error) {
	rows, err := q.Query(ctx, `SELECT `+noticeColumns+` FROM notices WHERE `+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("notices: %w", err)
	}
	defer rows.Close()
	out := []Notice{}
	for rows.Next() {
		n, err := scanNotice(rows)
		if err != nil {
			return nil, fmt.Errorf("notices: %w", err)
		}
		out = append(out, n)
	}
	return out, store.Wrap(rows.Err())
}

func addUpdate(ctx context.Context, tx *store.Tx, id string, seq int64, kind, status, titleJA, titleEN, bodyJA, bodyEN string, at time.Time, by string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO notice_updates (notice_id, seq, kind, status, title_ja, title_en, body_ja, body_en, at, by_account)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, seq, kind, status, titleJA, titleEN, bodyJA, bodyEN, clock.Store(at), by); err != nil {
		return fmt.Errorf("notice update: %w", err)
	}
	return nil
}

// changedOne turns a conditional UPDATE that matched nothing into a
// conflict: another request changed the notice in between.
func changedOne(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return store.Wrap(err)
	}
	if n != 1 {
		return fault.New(fault.Conflict, "the notice was changed meanwhile; reload it")
	}
	return nil
}

func optTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return clock.Store(*t)
}
