package notice

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// A notice's life after its draft: the operator previews whom it reaches,
// publishes it (the customers shown are the customers told: a resolution
// that changed since the preview is refused), then posts updates — an
// incident's status moves until resolved — or cancels it. Every step that
// customers see is mailed to them in the same transaction (deliver.go).

// Preview is what publishing a draft would do.
type Preview struct {
	Customers     []AffectedCustomer `json:"customers"`
	Recipients    int                `json:"recipients"`     // mails one publish would send
	NeedsApproval bool               `json:"needs_approval"` // inside the minimum notice period and not approved
	MinNoticeDays int                `json:"min_notice_days"`
}

// UpdateInput is an update to a published notice, or the words of a
// cancellation.
type UpdateInput struct {
	Status                           string // incidents: the new status ("" keeps it); announcements: ""
	TitleJA, TitleEN, BodyJA, BodyEN string // the update's text (titles "" keep the current titles)
	// Security marks a published incident found to be a breach as a
	// security incident from this update on (never back), stating
	// DataAffected, what data it touched. Post only.
	Security     bool
	DataAffected string
}

// Preview resolves the notice's scope now: the customers it reaches, how
// many mails publishing sends, and whether it needs the security
// officer's approval first.
func (s *Service) Preview(ctx context.Context, id string) (Preview, error) {
	n, err := loadNotice(ctx, s.db, id)
	if err != nil {
		return Preview{}, err
	}
	if n.Status == StatusCancelled || n.Status == StatusResolved {
		return Preview{}, fault.New(fault.Conflict, "the notice is %s", n.Status)
	}
	custs, err := resolveSomeone(ctx, s.db, n.Scope)
	if err != nil {
		return Preview{}, err
	}
	p := Preview{Customers: custs, NeedsApproval: n.Status == StatusDraft && s.needsApproval(n),
		MinNoticeDays: int(s.cfg.MinNotice.Hours() / 24)}
	for _, c := range custs {
		rs, err := recipients(ctx, s.db, c.CustomerID)
		if err != nil {
			return Preview{}, err
		}
		p.Recipients += len(rs)
	}
	return p, nil
}

// needsApproval: a planned change that touches forwarding and starts inside
// the minimum notice period, not yet approved. Incidents are not planned:
// they are told as soon as known.
func (s *Service) needsApproval(n Notice) bool {
	return n.Kind == Announcement && n.AffectsForwarding && n.ApprovedAt == nil &&
		n.StartsAt != nil && n.StartsAt.Before(clock.Now().Add(s.cfg.MinNotice))
}

// resolveSomeone resolves sc and refuses a scope that reaches nobody.
func resolveSomeone(ctx context.Context, q store.Querier, sc Scope) ([]AffectedCustomer, error) {
	custs, err := Resolve(ctx, q, sc)
	if err != nil {
		return nil, err
	}
	if len(custs) == 0 {
		return nil, fault.Field("scope", "the scope %s reaches no customer", describeScope(sc))
	}
	return custs, nil
}

// describeScope names a scope's parts for a message.
func describeScope(sc Scope) string {
	var parts []string
	add := func(kind string, names []string) {
		if len(names) > 0 {
			parts = append(parts, kind+" "+strings.Join(names, ", "))
		}
	}
	add("regions", sc.Regions)
	add("nodes", sc.Nodes)
	var pp []string
	for _, p := range sc.PhysicalPorts {
		pp = append(pp, p.Node+"/"+p.Port)
	}
	add("physical ports", pp)
	add("hubs", sc.Hubs)
	add("customers", sc.Customers)
	return "(" + strings.Join(parts, "; ") + ")"
}

// Publish sends a draft to the customers its scope reaches. seen are the
// customer IDs the operator was shown (Preview): when the resolution has
// changed since, nothing is published and the operator looks again.
func (s *Service) Publish(ctx context.Context, id string, seen []string) (Notice, error) {
	var n Notice
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := loadNotice(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.Status != StatusDraft {
			return fault.New(fault.Conflict, "the notice is already %s", cur.Status)
		}
		custs, err := resolveSomeone(ctx, tx, cur.Scope)
		if err != nil {
			return err
		}
		now := make([]string, len(custs))
		for i, c := range custs {
			now[i] = c.CustomerID
		}
		shown := uniq(seen)
		slices.Sort(shown)
		if !slices.Equal(now, shown) {
			return fault.Coded(fault.Conflict, "scope_changed",
				"the customers the scope reaches have changed since the preview (now %d): preview again", len(now))
		}
		if s.needsApproval(cur) {
			return fault.Coded(fault.Conflict, "approval_required",
				"the change starts inside the minimum notice period of %d days: a security officer's approval is required",
				int(s.cfg.MinNotice.Hours()/24))
		}
		status := StatusPublished
		if cur.Kind == Incident {
			status = StatusInvestigating
		}
		at := clock.Now()
		seq := cur.Revision + 1
		res, err := tx.Exec(ctx, `UPDATE notices SET status = ?, published_at = ?, updated_at = ?, revision = ?
			WHERE id = ? AND status = 'draft' AND revision = ?`, status, clock.Store(at), clock.Store(at), seq, id, cur.Revision)
		if err != nil {
			return fmt.Errorf("notice publish: %w", err)
		}
		if err := changedOne(res); err != nil {
			return err
		}
		if err := addUpdate(ctx, tx, id, seq, "publish", status, cur.TitleJA, cur.TitleEN, cur.BodyJA, cur.BodyEN, at, audit.ActorFrom(ctx).ID); err != nil {
			return err
		}
		if err := addCustomers(ctx, tx, id, seq, custs); err != nil {
			return err
		}
		n, err = loadNotice(ctx, tx, id)
		if err != nil {
			return err
		}
		sent, err := s.mailAll(ctx, tx, n, step{seq: seq, kind: "publish", bodyJA: n.BodyJA, bodyEN: n.BodyEN}, custs)
		if err != nil {
			return err
		}
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "notice.publish", Target: "notice:" + id,
			Detail: map[string]any{"kind": n.Kind, "status": status, "customers": len(custs), "recipients": sent}}); err != nil {
			return err
		}
		if n.Security {
			// The security officer's record of the breach notice (5.1.1):
			// what data it touched and how many customers were told.
			return s.audit.RecordTx(ctx, tx, audit.Event{Action: "notice.security", Target: "notice:" + id,
				Detail: map[string]any{"data_affected": n.DataAffected, "customers": len(custs), "recipients": sent}})
		}
		return nil
	})
	return n, err
}

// Post adds an update to a published notice and mails it to every customer
// reached, the ones the scope reaches now for the first time included.
func (s *Service) Post(ctx context.Context, id string, u UpdateInput) (Notice, error) {
	var n Notice
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := loadNotice(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.Status == StatusDraft {
			return fault.New(fault.Conflict, "a draft is edited, not updated; publish it first")
		}
		kind := "update"
		status := cur.Status
		if u.Status != "" && u.Status != cur.Status {
			if cur.Kind != Incident {
				return fault.Field("status", "only an incident changes status")
			}
			if !slices.Contains(incidentStatuses, u.Status) {
				return fault.Field("status", "an incident's status is one of %s", strings.Join(incidentStatuses, ", "))
			}
			kind, status = "status", u.Status
		}
		marking, err := s.markSecurity(ctx, tx, &cur, u)
		if err != nil {
			return err
		}
		var custs, sent int
		n, custs, sent, err = s.follow(ctx, tx, cur, kind, status, u)
		if err != nil || !marking {
			return err
		}
		// The officer's record, as at publishing: the update that told the
		// customers of the breach is the breach notice.
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "notice.security", Target: "notice:" + id,
			Detail: map[string]any{"data_affected": n.DataAffected, "customers": custs, "recipients": sent}})
	})
	return n, err
}

// markSecurity makes cur a security incident when u says it is one (an
// incident found to be a breach after publishing), inside tx, before the
// update that tells the customers so is mailed. It reports whether it did.
func (s *Service) markSecurity(ctx context.Context, tx *store.Tx, cur *Notice, u UpdateInput) (bool, error) {
	data := strings.TrimSpace(u.DataAffected)
	if !u.Security {
		if data != "" {
			return false, fault.Field("data_affected", "only a security incident states the data affected")
		}
		return false, nil
	}
	if cur.Kind != Incident {
		return false, fault.Field("security", "only an incident is a security incident")
	}
	if cur.Security {
		return false, fault.Field("security", "the incident is already a security incident")
	}
	if cur.Status == StatusCancelled || cur.Status == StatusResolved {
		return false, fault.New(fault.Conflict, "the notice is %s and takes no more updates", cur.Status)
	}
	if data == "" {
		return false, fault.Field("data_affected", "a security incident states what data it affected")
	}
	if err := checkDataAffected(data); err != nil {
		return false, err
	}
	res, err := tx.Exec(ctx, `UPDATE notices SET security = ?, data_affected = ? WHERE id = ? AND revision = ? AND security = ?`,
		true, data, cur.ID, cur.Revision, false)
	if err != nil {
		return false, fmt.Errorf("notice security: %w", err)
	}
	if err := changedOne(res); err != nil {
		return false, err
	}
	cur.Security, cur.DataAffected = true, data
	return true, nil
}

// Cancel withdraws a notice. A draft is simply cancelled (nobody was told);
// a published notice's cancellation is mailed like an update.
func (s *Service) Cancel(ctx context.Context, id string, u UpdateInput) (Notice, error) {
	var n Notice
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := loadNotice(ctx, tx, id)
		if err != nil {
			return err
		}
		if u.Security || u.DataAffected != "" {
			return fault.Field("security", "a cancellation does not mark a security incident")
		}
		if cur.Status != StatusDraft {
			n, _, _, err = s.follow(ctx, tx, cur, "cancel", StatusCancelled, u)
			return err
		}
		for _, b := range []struct{ field, text string }{{"body_ja", u.BodyJA}, {"body_en", u.BodyEN}} {
			if err := checkBody(b.field, b.text, false); err != nil {
				return err
			}
		}
		at := clock.Now()
		seq := cur.Revision + 1
		res, err := tx.Exec(ctx, `UPDATE notices SET status = 'cancelled', updated_at = ?, revision = ?
			WHERE id = ? AND status = 'draft' AND revision = ?`, clock.Store(at), seq, id, cur.Revision)
		if err != nil {
			return fmt.Errorf("notice cancel: %w", err)
		}
		if err := changedOne(res); err != nil {
			return err
		}
		if err := addUpdate(ctx, tx, id, seq, "cancel", StatusCancelled, cur.TitleJA, cur.TitleEN, u.BodyJA, u.BodyEN, at, audit.ActorFrom(ctx).ID); err != nil {
			return err
		}
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "notice.cancel", Target: "notice:" + id,
			Detail: map[string]any{"kind": cur.Kind, "status": StatusDraft}}); err != nil {
			return err
		}
		n, err = loadNotice(ctx, tx, id)
		return err
	})
	return n, err
}

// follow records and mails a step after publishing: an update, a status
// change or the cancellation. A resolved or cancelled notice takes no more.
// It returns the notice, how many customers were told and how many mails
// were queued.
func (s *Service) follow(ctx context.Context, tx *store.Tx, cur Notice, kind, status string, u UpdateInput) (Notice, int, int, error) {
	if cur.Status == StatusCancelled || cur.Status == StatusResolved {
		return Notice{}, 0, 0, fault.New(fault.Conflict, "the notice is %s and takes no more updates", cur.Status)
	}
	titleJA, titleEN := cur.TitleJA, cur.TitleEN
	if u.TitleJA != "" || u.TitleEN != "" {
		titleJA, titleEN = u.TitleJA, u.TitleEN
		for _, t := range []struct{ field, text string }{{"title_ja", titleJA}, {"title_en", titleEN}} {
			if err := checkTitle(t.field, t.text); err != nil {
				return Notice{}, 0, 0, err
			}
		}
	}
	for _, b := range []struct{ field, text string }{{"body_ja", u.BodyJA}, {"body_en", u.BodyEN}} {
		if err := checkBody(b.field, b.text, true); err != nil {
			return Notice{}, 0, 0, err
		}
	}
	// The scope may reach customers it did not reach at publishing (a hub
	// placed on the node since): they are told from now on. Those reached
	// before stay, even if the scope no longer reaches them: they were
	// told it concerns them and must hear how it ends (as long as they
	// are still served). The scope's names are not checked again: a hub
	// or customer purged since reaches nobody, and must not stop the
	// others hearing how it ends.
	now, err := resolve(ctx, tx, cur.Scope)
	if err != nil {
		return Notice{}, 0, 0, err
	}
	before, err := reached(ctx, tx, cur.ID)
	if err != nil {
		return Notice{}, 0, 0, err
	}
	var added []AffectedCustomer
	for _, c := range now {
		if !slices.ContainsFunc(before, func(b AffectedCustomer) bool { return b.CustomerID == c.CustomerID }) {
			added = append(added, c)
		}
	}
	at := clock.Now()
	seq := cur.Revision + 1
	res, err := tx.Exec(ctx, `UPDATE notices SET status = ?, title_ja = ?, title_en = ?, updated_at = ?, revision = ?
		WHERE id = ? AND revision = ?`, status, titleJA, titleEN, clock.Store(at), seq, cur.ID, cur.Revision)
	if err != nil {
		return Notice{}, 0, 0, fmt.Errorf("notice %s: %w", kind, err)
	}
	if err := changedOne(res); err != nil {
		return Notice{}, 0, 0, err
	}
	if err := addUpdate(ctx, tx, cur.ID, seq, kind, status, titleJA, titleEN, u.BodyJA, u.BodyEN, at, audit.ActorFrom(ctx).ID); err != nil {
		return Notice{}, 0, 0, err
	}
	if err := addCustomers(ctx, tx, cur.ID, seq, added); err != nil {
		return Notice{}, 0, 0, err
	}
	all, err := reached(ctx, tx, cur.ID)
	if err != nil {
		return Notice{}, 0, 0, err
	}
	ids := make([]string, len(all))
	for i, c := range all {
		ids[i] = c.CustomerID
	}
	live, err := served(ctx, tx, ids)
	if err != nil {
		return Notice{}, 0, 0, err
	}
	all = slices.DeleteFunc(all, func(c AffectedCustomer) bool { _, ok := live[c.CustomerID]; return !ok })
	n, err := loadNotice(ctx, tx, cur.ID)
	if err != nil {
		return Notice{}, 0, 0, err
	}
	sent, err := s.mailAll(ctx, tx, n, step{seq: seq, kind: kind, bodyJA: u.BodyJA, bodyEN: u.BodyEN}, all)
	if err != nil {
		return Notice{}, 0, 0, err
	}
	err = s.audit.RecordTx(ctx, tx, audit.Event{Action: "notice." + kind, Target: "notice:" + cur.ID,
		Detail: map[string]any{"kind": n.Kind, "status": status, "customers": len(all), "customers_added": len(added), "recipients": sent}})
	return n, len(all), sent, err
}

// addCustomers records the customers a notice reaches from update seq on.
func addCustomers(ctx context.Context, tx *store.Tx, id string, seq int64, custs []AffectedCustomer) error {
	for _, c := range custs {
		reasons, err := json.Marshal(c.Reasons)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO notice_customers (notice_id, customer_id, since_seq, reasons) VALUES (?, ?, ?, ?)`,
			id, c.CustomerID, seq, string(reasons)); err != nil {
			return fmt.Errorf("notice customers: %w", err)
		}
	}
	return nil
}
