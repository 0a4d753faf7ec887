package monitor

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/notice"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/webhook"
)

// Damping is the alert mail window: at most one mail per monitor in it;
// the changes inside it go into one summary mail when it ends.
const Damping = 10 * time.Minute

// Mail causes (mail_outbox.cause).
const (
	causeChange   = "monitor.state"
	causeSummary  = "monitor.state.summary"
	causeReminder = "monitor.stopped.reminder"
)

//go:embed mailtext/*.txt
var mailFiles embed.FS

var mailTemplates = mail.ParseTemplates(mailFiles, "mailtext/*.txt")

// stateWords are the states as the mail of each language names them.
var stateWords = map[string]map[string]string{
	"ja": {Up: "到達可能", Down: "到達不能", Unknown: "不明", Stopped: "停止中"},
	"en": {Up: "up", Down: "down", Unknown: "unknown", Stopped: "stopped"},
}

func word(lang, state string) string {
	if lang != "en" {
		lang = "ja"
	}
	return stateWords[lang][state]
}

// about is what a mail says a monitor is.
type about struct {
	ID, Name, Port, Target, Probe string
	TCPPort                       int
	mailedAt, dueAt               *string
}

func aboutTx(ctx context.Context, tx *store.Tx, id string) (about, error) {
	var a about
	err := store.Scan(tx.QueryRow(ctx, `SELECT m.id, m.name, p.port_code, m.target, m.probe, m.tcp_port, m.mailed_at, m.mail_due_at
		FROM monitors m JOIN ports p ON p.id = m.port_id WHERE m.id = ?`, id),
		&a.ID, &a.Name, &a.Port, &a.Target, &a.Probe, &a.TCPPort, &a.mailedAt, &a.dueAt)
	return a, err
}

// changed records change c of monitor id inside tx and raises it: a
// webhook event (every up and down, undamped) and a mail, damped: the
// first change after a quiet window is mailed at once, the ones within
// Damping of that mail wait for one summary (the job's).
func (s *Service) changed(ctx context.Context, tx *store.Tx, cust tenant.CustomerID, id string, c change) error {
	a, err := aboutTx(ctx, tx, id)
	if err != nil {
		return fmt.Errorf("monitor %s: %w", id, err)
	}
	if c.To == Up || c.To == Down {
		typ := webhook.TypeMonitorUp
		if c.To == Down {
			typ = webhook.TypeMonitorDown
		}
		if err := webhook.Emit(ctx, tx, webhook.Event{Customer: cust, Type: typ, Subject: "ports/" + a.Port + "/monitors/" + id,
			Time: c.At, Data: map[string]any{"monitor": id, "name": a.Name, "port_code": a.Port, "target": a.Target,
				"from": c.From, "to": c.To, "reason": c.Reason}}); err != nil {
			return err
		}
	}
	now := s.now()
	mailNow := a.dueAt == nil
	if mailNow && a.mailedAt != nil {
		last, err := clock.Parse(*a.mailedAt)
		if err != nil {
			return err
		}
		if now.Before(last.Add(Damping)) {
			mailNow = false
			if _, err := tx.Exec(ctx, `UPDATE monitors SET mail_due_at = ? WHERE id = ?`, clock.Store(last.Add(Damping)), id); err != nil {
				return err
			}
		}
	}
	if err := insertEvent(ctx, tx, id, cust, c.From, c.To, c.At, c.Reason, mailNow); err != nil {
		return err
	}
	if !mailNow {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE monitors SET mailed_at = ? WHERE id = ?`, clock.Store(now), id); err != nil {
		return err
	}
	return s.mailAll(ctx, tx, cust, "monitor-change", causeChange, func(lang string) any {
		return map[string]any{"Name": a.Name, "ID": id, "Port": a.Port, "Target": a.Target, "From": word(lang, c.From),
			"To": word(lang, c.To), "At": clock.Read(c.At), "Reason": c.Reason, "Link": s.link("/monitors/" + id)}
	})
}

func (s *Service) link(path string) string {
	if s.links == nil {
		return ""
	}
	return s.links(path)
}

// mailAll queues template name to cust's operations administrators and
// notice contacts, each in its language.
func (s *Service) mailAll(ctx context.Context, tx *store.Tx, cust tenant.CustomerID, name, cause string, data func(lang string) any) error {
	rs, err := notice.Recipients(ctx, tx, cust)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if err := s.mailOne(ctx, tx, cust, name, cause, r.Addr, r.Lang, data); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) mailOne(ctx context.Context, tx *store.Tx, cust tenant.CustomerID, name, cause, to, lang string, data func(string) any) error {
	m, err := mailTemplates.Message(name, cause, lang, to, data(lang))
	if err != nil {
		return err
	}
	m.CustomerID = string(cust)
	_, err = mail.Enqueue(ctx, tx, m)
	return err
}

// mailOpsAdmins queues template name to cust's operations administrators
// only (the reminder of a long-stopped monitor: whoever may resume it).
func (s *Service) mailOpsAdmins(ctx context.Context, tx *store.Tx, cust tenant.CustomerID, name, cause string, data func(string) any) error {
	rs, err := identity.OpsAdminRecipients(ctx, tx, cust)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if err := s.mailOne(ctx, tx, cust, name, cause, r.Email, r.Language, data); err != nil {
			return err
		}
	}
	return nil
}

// resetTx makes monitor id unknown (unless it is stopped or unknown
// already) for reason, a recorded change; raise says whether it is
// raised like a probe's change (node silent, over quota) or only recorded
// (the customer's own edit). It reports whether the state changed; the
// conditional UPDATE is the done marker of the watch job's item.
func (s *Service) resetTx(ctx context.Context, tx *store.Tx, id, from string, now time.Time, reason string, raise bool) (bool, error) {
	if from == Stopped {
		return false, nil // a stopped monitor stays stopped until resumed
	}
	var cust string
	if err := store.Scan(tx.QueryRow(ctx, `SELECT customer_id FROM monitors WHERE id = ?`, id), &cust); err != nil {
		return false, err
	}
	res, err := tx.Exec(ctx, `UPDATE monitors SET state = ?, state_since = ?, fails = 0, probed = 0 WHERE id = ? AND state = ?`,
		Unknown, clock.Store(now), id, from)
	if err != nil {
		return false, fmt.Errorf("monitor %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 || from == Unknown {
		return false, err
	}
	c := change{From: from, To: Unknown, At: now, Reason: reason}
	if raise {
		return true, s.changed(ctx, tx, tenant.CustomerID(cust), id, c)
	}
	return true, insertEvent(ctx, tx, id, tenant.CustomerID(cust), from, Unknown, now, reason, true)
}
