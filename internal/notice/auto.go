package notice

// Automatic draft incidents (job notice.watch): what the platform itself
// sees going wrong opens a draft incident for the operator, with the scope
// that resolves to the affected customers and texts in both languages.
// Nothing reaches a customer before the operator publishes it. Conditions:
//
//   - node-silent: a hub node (not retired) with hubs placed on it whose
//     last report is older than Config.NodeSilentAfter, or that never
//     reported since its enrolment that long ago. Episode: the node and
//     its last report ("never" before the first), so that a node silent
//     again after reporting opens a new draft.
//   - hub-unrealised: a hub whose node reports, in a report no older than
//     NodeSilentAfter, that it cannot realise the hub's wanted version (an
//     error, or a running version behind the wanted one), for longer than
//     NodeSilentAfter. Reports hold only the latest state, so notice_watch
//     keeps when the job first saw it. Episode: the hub and the wanted
//     version.
//
// The draft's auto_key names the episode and is unique: one draft per
// episode however many controllers run the job, and the key is the job's
// done marker (Do inserts it in the draft's transaction).

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// WatchJobName is the automatic drafts' job.
const WatchJobName = "notice.watch"

//go:embed autotext/*.txt
var autoFS embed.FS

// autoTexts are the drafts' texts, <source>.<lang>.txt: the first line is
// the title, the rest the body.
var autoTexts = template.Must(template.New("").Option("missingkey=error").
	Funcs(template.FuncMap{"join": strings.Join}).ParseFS(autoFS, "autotext/*.txt"))

// WatchJob looks for the conditions every minute.
func (s *Service) WatchJob() schedule.Job {
	return schedule.Job{Name: WatchJobName, Due: s.dueAutoDrafts, Do: s.openAutoDraft,
		Next: func(now time.Time) time.Time { return now.Add(time.Minute) }, Quiet: true}
}

// silentNode is a node-silent condition.
type silentNode struct {
	ID, Name, Region string
	Reported         string // clock.Store of the last report; "" never
	Hubs             int
}

func (n silentNode) key() string {
	r := n.Reported
	if r == "" {
		r = "never"
	}
	return SourceNodeSilent + ":" + n.ID + ":" + r
}

// silentNodes lists the node-silent conditions at now.
func (s *Service) silentNodes(ctx context.Context, q store.Querier, now time.Time) ([]silentNode, error) {
	limit := clock.Store(now.Add(-s.cfg.NodeSilentAfter))
	rows, err := q.Query(ctx, `SELECT n.id, n.name, r.code, COALESCE(st.reported_at, ''),
			(SELECT COUNT(*) FROM hub_placements p WHERE p.node_id = n.id)
		FROM hub_nodes n JOIN regions r ON r.id = n.region_id LEFT JOIN node_status st ON st.node_id = n.id
		WHERE n.state <> 'retired' AND EXISTS (SELECT 1 FROM hub_placements p WHERE p.node_id = n.id)
			AND (st.reported_at < ? OR (st.node_id IS NULL AND (SELECT MIN(c.issued_at) FROM node_certs c WHERE c.node_id = n.id) < ?))
		ORDER BY n.name`, limit, limit)
	if err != nil {
		return nil, fmt.Errorf("silent nodes: %w", err)
	}
	defer rows.Close()
	var out []silentNode
	for rows.Next() {
		var n silentNode
		if err := rows.Scan(&n.ID, &n.Name, &n.Region, &n.Reported, &n.Hubs); err != nil {
			return nil, fmt.Errorf("silent nodes: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// unrealisedHub is a hub-unrealised condition.
type unrealisedHub struct {
	Hub     string
	Wanted  int64
	Running int64    // the lowest version a node runs
	Nodes   []string // names of the nodes that report it
}

func (h unrealisedHub) key() string {
	return SourceHubUnrealised + ":" + h.Hub + ":" + strconv.FormatInt(h.Wanted, 10)
}

// unrealisedHubs lists the hubs that a fresh report says are not running
// their wanted version, one per hub and wanted version.
func (s *Service) unrealisedHubs(ctx context.Context, q store.Querier, now time.Time) ([]unrealisedHub, error) {
	rows, err := q.Query(ctx, `SELECT o.hub_id, o.wanted_version, o.config_version, n.name
		FROM hub_observations o JOIN hub_nodes n ON n.id = o.node_id
		WHERE n.state <> 'retired' AND o.reported_at >= ? AND (o.error <> '' OR o.config_version < o.wanted_version)
		ORDER BY o.hub_id, o.wanted_version, n.name`, clock.Store(now.Add(-s.cfg.NodeSilentAfter)))
	if err != nil {
		return nil, fmt.Errorf("unrealised hubs: %w", err)
	}
	defer rows.Close()
	var out []unrealisedHub
	for rows.Next() {
		var h unrealisedHub
		var node string
		if err := rows.Scan(&h.Hub, &h.Wanted, &h.Running, &node); err != nil {
			return nil, fmt.Errorf("unrealised hubs: %w", err)
		}
		if k := len(out) - 1; k >= 0 && out[k].key() == h.key() {
			out[k].Running = min(out[k].Running, h.Running)
			out[k].Nodes = append(out[k].Nodes, node)
			continue
		}
		h.Nodes = []string{node}
		out = append(out, h)
	}
	return out, rows.Err()
}

// dueAutoDrafts lists the episodes that call for a draft and have none.
// It also keeps notice_watch: when each hub-unrealised condition was first
// seen, dropping those no longer seen. (Observing is this job's input, and
// several controllers writing the same first sighting agree: the first
// insert wins.)
func (s *Service) dueAutoDrafts(ctx context.Context, now time.Time) ([]string, error) {
	var due []string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		due = nil
		nodes, err := s.silentNodes(ctx, tx, now)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			due = append(due, n.key())
		}
		hubs, err := s.unrealisedHubs(ctx, tx, now)
		if err != nil {
			return err
		}
		seen := make([]string, len(hubs))
		for i, h := range hubs {
			seen[i] = h.key()
			if _, err := tx.Exec(ctx, `INSERT INTO notice_watch (auto_key, since) VALUES (?, ?) ON CONFLICT (auto_key) DO NOTHING`,
				seen[i], clock.Store(now)); err != nil {
				return fmt.Errorf("notice watch: %w", err)
			}
		}
		watched, err := store.Strings(ctx, tx, `SELECT auto_key FROM notice_watch`)
		if err != nil {
			return fmt.Errorf("notice watch: %w", err)
		}
		for _, k := range watched {
			if !slices.Contains(seen, k) {
				if _, err := tx.Exec(ctx, `DELETE FROM notice_watch WHERE auto_key = ?`, k); err != nil {
					return fmt.Errorf("notice watch: %w", err)
				}
			}
		}
		lasting, err := store.Strings(ctx, tx, `SELECT auto_key FROM notice_watch WHERE since <= ? ORDER BY auto_key`,
			clock.Store(now.Add(-s.cfg.NodeSilentAfter)))
		if err != nil {
			return fmt.Errorf("notice watch: %w", err)
		}
		due = append(due, lasting...)
		drafted, err := store.Strings(ctx, tx, `SELECT auto_key FROM notices WHERE auto_key IS NOT NULL`)
		if err != nil {
			return fmt.Errorf("automatic drafts: %w", err)
		}
		due = slices.DeleteFunc(due, func(k string) bool { return slices.Contains(drafted, k) })
		return nil
	})
	return due, err
}

// openAutoDraft opens the draft of episode key if its condition still
// holds; false when it no longer does or its draft exists.
func (s *Service) openAutoDraft(ctx context.Context, now time.Time, key string) (bool, error) {
	created := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		source, _, _ := strings.Cut(key, ":")
		var d Draft
		var found bool
		var err error
		switch source {
		case SourceNodeSilent:
			d, found, err = s.nodeSilentDraft(ctx, tx, now, key)
		case SourceHubUnrealised:
			d, found, err = s.hubUnrealisedDraft(ctx, tx, now, key)
		default:
			return fmt.Errorf("automatic draft: unknown condition %q", key)
		}
		if err != nil || !found {
			return err
		}
		_, created, err = s.OpenAutoDraft(ctx, tx, source, key, d)
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		// Another controller inserted the same episode's draft at the
		// same moment: the key is taken, which is what was wanted.
		var n int
		if cerr := store.Scan(s.db.QueryRow(ctx, `SELECT COUNT(*) FROM notices WHERE auto_key = ?`, key), &n); cerr == nil && n == 1 {
			return false, nil
		}
	}
	return created, err
}

func (s *Service) nodeSilentDraft(ctx context.Context, tx *store.Tx, now time.Time, key string) (Draft, bool, error) {
	nodes, err := s.silentNodes(ctx, tx, now)
	if err != nil {
		return Draft{}, false, err
	}
	i := slices.IndexFunc(nodes, func(n silentNode) bool { return n.key() == key })
	if i < 0 {
		return Draft{}, false, nil
	}
	n := nodes[i]
	data := map[string]any{"Node": n.Name, "Region": n.Region, "Hubs": n.Hubs, "LastReport": ""}
	if n.Reported != "" {
		t, err := clock.Parse(n.Reported)
		if err != nil {
			return Draft{}, false, fmt.Errorf("node %s: %w", n.Name, err)
		}
		data["LastReport"] = clock.Show(t)
	}
	d := Draft{Kind: Incident, Category: "outage", Severity: "major", AffectsForwarding: true, Scope: Scope{Nodes: []string{n.Name}}}
	return d, true, autoText(&d, SourceNodeSilent, data)
}

func (s *Service) hubUnrealisedDraft(ctx context.Context, tx *store.Tx, now time.Time, key string) (Draft, bool, error) {
	var since string
	err := store.Scan(tx.QueryRow(ctx, `SELECT since FROM notice_watch WHERE auto_key = ?`, key), &since)
	if errors.Is(err, store.ErrNotFound) || (err == nil && since > clock.Store(now.Add(-s.cfg.NodeSilentAfter))) {
		return Draft{}, false, nil
	}
	if err != nil {
		return Draft{}, false, fmt.Errorf("notice watch: %w", err)
	}
	hubs, err := s.unrealisedHubs(ctx, tx, now)
	if err != nil {
		return Draft{}, false, err
	}
	i := slices.IndexFunc(hubs, func(h unrealisedHub) bool { return h.key() == key })
	if i < 0 {
		return Draft{}, false, nil
	}
	h := hubs[i]
	d := Draft{Kind: Incident, Category: "degradation", Severity: "major", AffectsForwarding: true, Scope: Scope{Hubs: []string{h.Hub}}}
	return d, true, autoText(&d, SourceHubUnrealised, map[string]any{"Hub": h.Hub, "Wanted": h.Wanted, "Running": h.Running, "Nodes": h.Nodes})
}

// autoText fills d's titles and bodies from the texts of source. A title
// is one line: names with a line break never pass their own validation,
// but a title that is not one line is refused here rather than published.
func autoText(d *Draft, source string, data map[string]any) error {
	for _, lang := range []string{"ja", "en"} {
		var b bytes.Buffer
		if err := autoTexts.ExecuteTemplate(&b, source+"."+lang+".txt", data); err != nil {
			return fmt.Errorf("automatic draft %s.%s: %w", source, lang, err)
		}
		title, body, _ := strings.Cut(b.String(), "\n")
		if title == "" || strings.ContainsFunc(title, unicode.IsControl) {
			return fmt.Errorf("automatic draft %s.%s: the title is not one line: %q", source, lang, title)
		}
		body = strings.TrimSpace(body)
		if lang == "ja" {
			d.TitleJA, d.BodyJA = title, body
		} else {
			d.TitleEN, d.BodyEN = title, body
		}
	}
	return nil
}
