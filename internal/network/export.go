package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network/custexport"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/webhook"
)

// The customer's own copy of its saved data (ISO/IEC 27017 6.1.1, 12.3.1):
// Export writes every applied version and the draft into the document of
// package custexport; Import reads one configuration of such a document —
// from this deployment or another — into the draft, where it is reviewed
// and applied like any edit. Nothing is ever applied by an import.

// Export returns the customer's export document, read in one transaction
// so that the versions, the draft and the facts belong together, and
// records the export in the audit log. Passwords are masked as the API
// masks them.
func (s *Workflow) Export(ctx context.Context, sc tenant.Scope) (custexport.Document, error) {
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return custexport.Document{}, err
	}
	var d custexport.Document
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		d = custexport.Document{Schema: custexport.Schema, ExportedAt: s.now().UTC(),
			HubSettings: custexport.HubSettings{RouteLimit: s.settings.RouteLimit, DefaultASN: s.settings.DefaultASN,
				BackboneOverlay: s.settings.BackboneOverlay.String()}}
		if err := s.exportFacts(ctx, tx, cust, &d); err != nil {
			return err
		}
		if err := s.exportVersions(ctx, tx, cust, &d); err != nil {
			return err
		}
		dr, err := s.draft(ctx, tx, cust)
		switch {
		case err == nil:
			cfg, err := json.Marshal(dr.Config.Redacted())
			if err != nil {
				return err
			}
			d.Draft = &custexport.Draft{BaseVersion: dr.BaseVersion, RollbackOf: dr.RollbackOf, UpdatedAt: dr.UpdatedAt.UTC(),
				UpdatedBy: dr.UpdatedBy, Config: cfg}
		case !fault.Is(notFound("draft", err), fault.NotFound):
			return err
		}
		// The webhooks are the customer's saved data too, for an account
		// that may read them (an admin exports the network without them).
		if sc.Can(identity.ActWebhooksRead) {
			if d.Webhooks, err = webhook.ExportTx(ctx, tx, cust); err != nil {
				return err
			}
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "network.export", Target: "customer:" + string(cust), CustomerID: string(cust),
			Detail: map[string]any{"schema": custexport.Schema, "versions": len(d.Versions), "draft": d.Draft != nil}})
	})
	if err != nil {
		return custexport.Document{}, fmt.Errorf("export: %w", err)
	}
	return d, nil
}

// exportFacts fills in what the customer bought: contracts with options,
// hubs with their regions, ports with today's contracted speed.
func (s *core) exportFacts(ctx context.Context, q store.Querier, cust catalog.CustomerID, d *custexport.Document) error {
	d.Contracts, d.Hubs, d.Ports, d.Deployment.Regions = []custexport.Contract{}, []custexport.Hub{}, []custexport.Port{}, []custexport.Region{}
	options := map[string][]custexport.Option{}
	err := eachRow(ctx, q, `SELECT contract_id, name, quantity FROM contract_options WHERE customer_id = ? ORDER BY name`, []any{cust},
		func(sc scanner) error {
			var id string
			var o custexport.Option
			if err := sc.Scan(&id, &o.Name, &o.Quantity); err != nil {
				return err
			}
			options[id] = append(options[id], o)
			return nil
		})
	if err != nil {
		return fmt.Errorf("options: %w", err)
	}
	err = eachRow(ctx, q, `SELECT id, service_code, plan, status, start_date, termination_date FROM contracts
		WHERE customer_id = ? ORDER BY service_code`, []any{cust}, func(sc scanner) error {
		var id string
		var end *string
		var k custexport.Contract
		if err := sc.Scan(&id, &k.ServiceCode, &k.Plan, &k.Status, &k.StartDate, &end); err != nil {
			return err
		}
		if end != nil {
			k.TerminationDate = *end
		}
		k.Options = options[id]
		if k.Options == nil {
			k.Options = []custexport.Option{}
		}
		d.Contracts = append(d.Contracts, k)
		return nil
	})
	if err != nil {
		return fmt.Errorf("contracts: %w", err)
	}
	err = eachRow(ctx, q, `SELECT h.id, k.service_code, h.priority, r.code, r.name_en, r.name_ja, r.data_location, h.ended_at
		FROM hubs h JOIN contracts k ON k.id = h.contract_id JOIN regions r ON r.id = h.region_id
		WHERE h.customer_id = ? ORDER BY h.id`, []any{cust}, func(sc scanner) error {
		var h custexport.Hub
		var r custexport.Region
		var ended *string
		if err := sc.Scan(&h.HubID, &h.ServiceCode, &h.Priority, &r.Code, &r.NameEN, &r.NameJA, &r.DataLocation, &ended); err != nil {
			return err
		}
		var err error
		if h.EndedAt, err = endedAt(ended); err != nil {
			return err
		}
		h.Region = r.Code
		d.Hubs = append(d.Hubs, h)
		if !slices.ContainsFunc(d.Deployment.Regions, func(x custexport.Region) bool { return x.Code == r.Code }) {
			d.Deployment.Regions = append(d.Deployment.Regions, r)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("hubs: %w", err)
	}
	slices.SortFunc(d.Deployment.Regions, func(a, b custexport.Region) int { return strings.Compare(a.Code, b.Code) })
	speeds, err := s.speedsAt(ctx, q, cust, s.today())
	if err != nil {
		return err
	}
	err = eachRow(ctx, q, `SELECT p.id, p.port_code, k.service_code, p.hub_id, p.kind, p.speed_mbps, p.redundant, p.status, p.ended_at
		FROM ports p JOIN contracts k ON k.id = p.contract_id WHERE p.customer_id = ? ORDER BY p.port_code`, []any{cust},
		func(sc scanner) error {
			var id string
			var p custexport.Port
			var ended *string
			if err := sc.Scan(&id, &p.PortCode, &p.ServiceCode, &p.HubID, &p.Kind, &p.SpeedMbps, &p.Redundant, &p.Status, &ended); err != nil {
				return err
			}
			var err error
			if p.EndedAt, err = endedAt(ended); err != nil {
				return err
			}
			if sp, ok := speeds[id]; ok {
				p.SpeedMbps = sp
			}
			d.Ports = append(d.Ports, p)
			return nil
		})
	if err != nil {
		return fmt.Errorf("ports: %w", err)
	}
	return nil
}

// endedAt is a stored ended_at as the export shows it (nil: not ended).
func endedAt(s *string) (*time.Time, error) {
	if s == nil {
		return nil, nil
	}
	t, err := clock.Parse(*s)
	if err != nil {
		return nil, fmt.Errorf("ended_at: %w", err)
	}
	return &t, nil
}

// exportVersions adds every applied version, oldest first. The stored
// configuration is decoded without opening its sealed passwords: they are
// masked anyway.
func (s *core) exportVersions(ctx context.Context, q store.Querier, cust catalog.CustomerID, d *custexport.Document) error {
	d.Versions = []custexport.Version{}
	err := eachRow(ctx, q, `SELECT version, base_version, rollback_of, config, applied_at, applied_by FROM net_versions
		WHERE customer_id = ? ORDER BY version`, []any{cust}, func(sc scanner) error {
		var v custexport.Version
		var raw, at string
		if err := sc.Scan(&v.Version, &v.BaseVersion, &v.RollbackOf, &raw, &at, &v.AppliedBy); err != nil {
			return err
		}
		c, err := DecodeConfig([]byte(raw))
		if err != nil {
			return fmt.Errorf("version %d: %w", v.Version, err)
		}
		if v.Config, err = json.Marshal(c.Redacted()); err != nil {
			return err
		}
		t, err := clock.Parse(at)
		if err != nil {
			return fmt.Errorf("version %d: %w", v.Version, err)
		}
		v.AppliedAt = t.UTC()
		d.Versions = append(d.Versions, v)
		return nil
	})
	if err != nil {
		return fmt.Errorf("versions: %w", err)
	}
	return nil
}

// Import reads the configuration choice selects from the export document
// raw into the caller's draft. It is a draft save that takes the edit lock
// as "start editing" does (someone else's live lock refuses): the
// configuration is validated exactly as SaveDraft validates it (a problem
// named by its place in the document), a masked password keeps the one the
// draft has for the port, and on any refusal nothing changes. Ports and hubs are matched by port code and hub ID, a hub
// otherwise by region; mapping (old → new, port codes or hub IDs of the
// document) names the rest. A port or hub left unmatched refuses the import
// with the list of them and of the customer's own.
func (s *Workflow) Import(ctx context.Context, sc tenant.Scope, raw []byte, choice custexport.Choice, mapping map[string]string) (shown Draft, err error) {
	defer shown.mask()
	cust, err := sc.Authorize(identity.ActNetworkEdit)
	if err != nil {
		return Draft{}, err
	}
	// Someone else editing is the answer whatever the file holds; the
	// draft save below takes the lock.
	if l, live, err := s.lock(ctx, s.db, cust); err != nil {
		return Draft{}, err
	} else if live && !l.Mine {
		return Draft{}, fault.New(fault.Conflict, "%s has been editing since %s", l.Holder, clock.Show(l.Since))
	}
	doc, err := custexport.Decode(raw)
	if err != nil {
		return Draft{}, exportFault(err)
	}
	// The whole document is read strictly, not only the chosen
	// configuration: a file this controller cannot read fully is refused.
	for i, v := range doc.Versions {
		if _, err := DecodeConfig(v.Config); err != nil {
			return Draft{}, fault.Field(fmt.Sprintf("versions[%d].config", i), "not a configuration this controller reads: %v", err)
		}
	}
	if doc.Draft != nil {
		if _, err := DecodeConfig(doc.Draft.Config); err != nil {
			return Draft{}, fault.Field("draft.config", "not a configuration this controller reads: %v", err)
		}
	}
	picked, at, err := doc.Pick(choice)
	if err != nil {
		return Draft{}, exportFault(err)
	}
	cfg, err := DecodeConfig(picked)
	if err != nil {
		return Draft{}, err
	}
	f, err := s.facts(ctx, s.db, cust)
	if err != nil {
		return Draft{}, err
	}
	if err := remap(doc, &cfg, f, mapping); err != nil {
		return Draft{}, err
	}
	detail := map[string]any{"schema": custexport.Schema, "exported_at": clock.Store(doc.ExportedAt), "chosen": choice.String()}
	if len(mapping) > 0 {
		detail["mapping"] = mapping
	}
	// The lock is taken in the transaction of the save, so that a refused
	// import leaves neither a lock nor a draft behind.
	d, err := s.editDraftWith(ctx, cust, "network.import", nil, detail, true, func(_ *Config) (Config, error) { return cfg, nil })
	// A problem is found as a draft save finds it and named where it sits
	// in the file: versions[1].config.ports[4].onprem.peer_asn.
	if f, ok := fault.As(err); ok && f.Kind == fault.Invalid && f.Field != "" {
		named := *f
		named.Field = at + "." + f.Field
		return Draft{}, &named
	}
	return d, err
}

// remap rewrites cfg's port codes and hub IDs from the exporting
// deployment's to this customer's.
func remap(doc custexport.Document, cfg *Config, f Facts, mapping map[string]string) error {
	// An ended port is no longer the customer's: nothing maps onto it, and
	// a file's configuration of it is refused like another customer's.
	ours := map[string]bool{}
	var ourPorts []string
	for _, p := range f.Ports {
		if !p.Active {
			continue
		}
		ours[p.Code] = true
		ourPorts = append(ourPorts, p.Code)
	}
	ourHubs := map[catalog.HubID]HubFact{}
	for _, h := range f.Hubs {
		ourHubs[h.ID] = h
	}
	docHubs := map[string]custexport.Hub{}
	for _, h := range doc.Hubs {
		docHubs[h.HubID] = h
	}
	docPorts := map[string]bool{}
	for _, p := range doc.Ports {
		docPorts[p.PortCode] = true
	}
	for _, p := range cfg.Ports {
		docPorts[p.PortCode] = true
	}
	for _, h := range cfg.Hubs {
		if _, ok := docHubs[string(h.HubID)]; !ok {
			docHubs[string(h.HubID)] = custexport.Hub{HubID: string(h.HubID)}
		}
	}
	for _, old := range slices.Sorted(maps.Keys(mapping)) {
		to := mapping[old]
		_, hub := docHubs[old]
		switch {
		case docPorts[old] && !ours[to]:
			return fault.Field("map", "%s=%s: %s is not one of your ports (%s)", old, to, to, strings.Join(ourPorts, ", "))
		case hub && ourHubs[catalog.HubID(to)].ID == "":
			return fault.Field("map", "%s=%s: %s is not one of your hubs", old, to, to)
		case !docPorts[old] && !hub:
			return fault.Field("map", "%s is neither a port code nor a hub ID of the document", old)
		}
	}
	var unmatched []string
	taken := map[string]string{}
	for i := range cfg.Ports {
		p := &cfg.Ports[i]
		to, ok := mapping[p.PortCode]
		if !ok {
			to = p.PortCode
		}
		if !ours[to] {
			unmatched = append(unmatched, "port "+p.PortCode)
			continue
		}
		if prev, dup := taken[to]; dup {
			return fault.Field("map", "%s and %s would both become %s", prev, p.PortCode, to)
		}
		taken[to] = p.PortCode
		p.PortCode = to
	}
	takenHub := map[catalog.HubID]catalog.HubID{}
	for i := range cfg.Hubs {
		h := &cfg.Hubs[i]
		to, ok := catalog.HubID(mapping[string(h.HubID)]), mapping[string(h.HubID)] != ""
		if !ok {
			to = h.HubID
			if _, mine := ourHubs[to]; !mine {
				// Another deployment: the hub of the same region, one per
				// customer and region.
				to = ""
				for _, o := range f.Hubs {
					if r := docHubs[string(h.HubID)].Region; r != "" && o.Region == r {
						to = o.ID
					}
				}
			}
		}
		if to == "" {
			where := docHubs[string(h.HubID)].Region
			if where == "" {
				where = "region unknown"
			}
			unmatched = append(unmatched, fmt.Sprintf("hub %s (%s)", h.HubID, where))
			continue
		}
		if prev, dup := takenHub[to]; dup {
			return fault.Field("map", "hubs %s and %s would both become %s", prev, h.HubID, to)
		}
		takenHub[to] = h.HubID
		h.HubID = to
	}
	if len(unmatched) > 0 {
		return fault.Field("map", "not in your contracts: %s. Map each to one of yours (old=new); your ports: %s",
			strings.Join(unmatched, ", "), strings.Join(ourPorts, ", "))
	}
	return nil
}

// exportFault turns a document that cannot be read into the field fault a
// client sees, worded here so that the panel translates it.
func exportFault(err error) error {
	var e *custexport.Error
	if !errors.As(err, &e) {
		return err
	}
	f, a := e.Field, e.Args
	switch e.Code {
	case custexport.ErrTooLarge:
		return fault.New(fault.TooLarge, "the document is larger than %d MiB", a...)
	case custexport.ErrNotJSON:
		return fault.Field(f, "not a JSON object: %v", a...)
	case custexport.ErrNoSchema:
		return fault.Field(f, "missing: this is not a tsunagi customer export (%s)", a...)
	case custexport.ErrOtherSchema:
		return fault.Field(f, "%q is not a version this controller reads; it reads %s", a...)
	case custexport.ErrUnknownMember:
		return fault.Field(f, "unknown member; %s has no such member", a...)
	case custexport.ErrWrongType:
		return fault.Field(f, "must be %s", a...)
	case custexport.ErrTrailingData:
		return fault.Field(f, "trailing data after the document")
	case custexport.ErrVersionOrder:
		return fault.Field(f, "versions must be numbered from 1, oldest first, each once")
	case custexport.ErrNotConfig:
		return fault.Field(f, "must be a configuration object")
	case custexport.ErrNoDraft:
		return fault.Field(f, "the document holds no draft")
	case custexport.ErrNoVersions:
		return fault.Field(f, "the document holds no applied version; choose the draft")
	case custexport.ErrNoSuchVersion:
		return fault.Field(f, "the document holds no version %d", a...)
	case custexport.ErrBadChoice:
		return fault.Field(f, "%q is neither a version number nor \"draft\"", a...)
	}
	return fault.Wrap(fault.Invalid, err, "the file is not valid JSON")
}

type scanner interface{ Scan(...any) error }

// eachRow calls fn for every row of query.
func eachRow(ctx context.Context, q store.Querier, query string, args []any, fn func(scanner) error) error {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
