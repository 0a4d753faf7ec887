package network

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/usage"
)

// Capacity (ISO/IEC 27017 12.1.3, CLD.13.1.4). A physical port's capacity is
// its speed × its oversubscription factor. A customer port placed on it
// commits its contracted speed — and, while a bandwidth increase is pending,
// the increased speed — so that admission never lets a future change overrun
// the port. Contracts count from their start date to their termination date.

// physPort is a physical port with what is placed on it.
type physPort struct {
	ID, NodeID, Node, Region, Name, Kind string
	// NodeState is the node's lifecycle state: active, draining or
	// retired. Only an active node takes new placements.
	NodeState        string
	SpeedMbps        int64
	Oversubscription float64
	legs             []leg
}

// leg is one placed leg of a customer port.
type leg struct {
	portID, portCode, customerID, leg string
	baseMbps                          int64
	start, end                        string // contract dates; end "" = open
	changes                           []speedChange
}

type speedChange struct {
	date string
	mbps int64
}

func (p physPort) capacity() int64 {
	return int64(math.Floor(float64(p.SpeedMbps) * p.Oversubscription))
}

func (l leg) activeOn(date string) bool { return l.start <= date && (l.end == "" || date <= l.end) }

// speedOn is the contracted speed on date.
func (l leg) speedOn(date string) int64 {
	v := l.baseMbps
	for _, c := range l.changes {
		if c.date <= date {
			v = c.mbps
		}
	}
	return v
}

// committed is what admission reserves from today on: the largest speed the
// leg will have under the pending changes.
func (l leg) committed(today string) int64 {
	v := l.speedOn(today)
	for _, c := range l.changes {
		if c.date > today {
			v = max(v, c.mbps)
		}
	}
	return v
}

func (p physPort) committed(today string, except string) int64 {
	var sum int64
	for _, l := range p.legs {
		if l.portID != except && (l.end == "" || today <= l.end) {
			sum += l.committed(today)
		}
	}
	return sum
}

func (p physPort) contractedOn(date string) int64 {
	var sum int64
	for _, l := range p.legs {
		if l.activeOn(date) {
			sum += l.speedOn(date)
		}
	}
	return sum
}

// inventory loads every physical port with its placed legs.
func (s *core) inventory(ctx context.Context, q store.Querier) ([]*physPort, error) {
	// A released physical port (of a retired node) is out of the inventory.
	rows, err := q.Query(ctx, `SELECT pp.id, n.id, n.name, n.state, r.code, pp.name, pp.kind, pp.speed_mbps, pp.oversubscription
		FROM physical_ports pp JOIN hub_nodes n ON n.id = pp.node_id JOIN regions r ON r.id = n.region_id
		WHERE pp.released_at IS NULL ORDER BY n.name, pp.name`)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	var out []*physPort
	byID := map[string]*physPort{}
	for rows.Next() {
		p := &physPort{}
		if err := rows.Scan(&p.ID, &p.NodeID, &p.Node, &p.NodeState, &p.Region, &p.Name, &p.Kind, &p.SpeedMbps, &p.Oversubscription); err != nil {
			rows.Close()
			return nil, fmt.Errorf("inventory: %w", err)
		}
		out = append(out, p)
		byID[p.ID] = p
	}
	rows.Close()
	changes := map[string][]speedChange{}
	rows, err = q.Query(ctx, `SELECT port_id, effective_date, to_mbps FROM bandwidth_changes WHERE status = 'pending' ORDER BY effective_date, requested_at`)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	for rows.Next() {
		var id string
		var c speedChange
		if err := rows.Scan(&id, &c.date, &c.mbps); err != nil {
			rows.Close()
			return nil, fmt.Errorf("inventory: %w", err)
		}
		changes[id] = append(changes[id], c)
	}
	rows.Close()
	rows, err = q.Query(ctx, `SELECT pl.physical_port_id, pl.leg, p.id, p.port_code, p.customer_id, p.speed_mbps, k.start_date, k.termination_date
		FROM port_placements pl JOIN ports p ON p.id = pl.port_id JOIN contracts k ON k.id = p.contract_id ORDER BY p.port_code, pl.leg`)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var phys string
		var l leg
		var end *string
		if err := rows.Scan(&phys, &l.leg, &l.portID, &l.portCode, &l.customerID, &l.baseMbps, &l.start, &end); err != nil {
			return nil, fmt.Errorf("inventory: %w", err)
		}
		if end != nil {
			l.end = *end
		}
		l.changes = changes[l.portID]
		if p := byID[phys]; p != nil {
			p.legs = append(p.legs, l)
		}
	}
	return out, rows.Err()
}

// CapacityRow is one physical port in the capacity report.
type CapacityRow struct {
	Node             string  `json:"node"`
	Region           string  `json:"region"`
	Port             string  `json:"physical_port"`
	Kind             string  `json:"kind"`
	SpeedMbps        int64   `json:"speed_mbps"`
	Oversubscription float64 `json:"oversubscription"`
	CapacityMbps     int64   `json:"capacity_mbps"`
	ContractedMbps   int64   `json:"contracted_mbps"`
	AllocatedMbps    int64   `json:"allocated_mbps"`
	HeadroomMbps     int64   `json:"headroom_mbps"`
	Utilisation      float64 `json:"utilisation"`
	MeasuredPeakMbps *int64  `json:"measured_peak_mbps"`
	// MeasuredUtil is the measured peak over the port's speed (what the
	// wire carries, not the oversubscribed capacity); nil with no peak.
	MeasuredUtil *float64 `json:"measured_utilisation"`
	Customers    int      `json:"customers"`
	Ports        int      `json:"customer_ports"`
	ForecastMbps int64    `json:"forecast_mbps"`
	ForecastUtil float64  `json:"forecast_utilisation"`
	Flagged      bool     `json:"flagged"`
	FlagReasons  []string `json:"flag_reasons"`
}

// CapacityNode sums a node's physical ports of one kind (backbone ports
// carry no customer ports and are summed apart).
type CapacityNode struct {
	Node           string `json:"node"`
	Region         string `json:"region"`
	Kind           string `json:"kind"`
	CapacityMbps   int64  `json:"capacity_mbps"`
	ContractedMbps int64  `json:"contracted_mbps"`
	AllocatedMbps  int64  `json:"allocated_mbps"`
	ForecastMbps   int64  `json:"forecast_mbps"`
	FlaggedPorts   int    `json:"flagged_ports"`
}

// CapacityReport is the operator's capacity view.
type CapacityReport struct {
	Date         string         `json:"date"`
	ForecastDate string         `json:"forecast_date"`
	Threshold    float64        `json:"threshold"`
	Nodes        []CapacityNode `json:"nodes"`
	Rows         []CapacityRow  `json:"rows"`
}

// Capacity reports, per node and physical port: contracted and allocated
// speed, headroom, the measured peak (the highest 5-minute peak of the
// last 30 days of usage records, internal/usage; none before a port
// carried measured traffic), the customers accommodated, a forecast at
// ForecastDays from the contract pipeline (start, termination and
// bandwidth-change dates), and a flag when the measured utilisation —
// or, for a port not measured yet, the allocation — or the forecast
// crosses the threshold. The contracted and allocated figures stay beside
// the measured one.
func (s *Operations) Capacity(ctx context.Context) (CapacityReport, error) {
	inv, err := s.inventory(ctx, s.db)
	if err != nil {
		return CapacityReport{}, err
	}
	peaks, err := usage.PeaksByPhysicalPort(ctx, s.db, s.now().Add(-usage.PeakWindow))
	if err != nil {
		return CapacityReport{}, err
	}
	today := s.today()
	fd, _ := clock.ParseDate(today)
	fdate := fd.Add(time.Duration(s.settings.ForecastDays) * 24 * time.Hour).Format(clock.DateLayout)
	rep := CapacityReport{Date: today, ForecastDate: fdate, Threshold: s.settings.CapacityThreshold, Nodes: []CapacityNode{}, Rows: []CapacityRow{}}
	// Rows by node, then kind, then port: node totals are consecutive runs.
	slices.SortStableFunc(inv, func(a, b *physPort) int {
		return strings.Compare(a.Node+"\x00"+a.Kind+"\x00"+a.Name, b.Node+"\x00"+b.Kind+"\x00"+b.Name)
	})
	for _, p := range inv {
		r := CapacityRow{Node: p.Node, Region: p.Region, Port: p.Name, Kind: p.Kind, SpeedMbps: p.SpeedMbps,
			Oversubscription: p.Oversubscription, CapacityMbps: p.capacity(), ContractedMbps: p.contractedOn(today),
			AllocatedMbps: p.committed(today, ""), ForecastMbps: p.contractedOn(fdate), FlagReasons: []string{}}
		r.HeadroomMbps = r.CapacityMbps - r.AllocatedMbps
		customers, ports := map[string]bool{}, map[string]bool{}
		for _, l := range p.legs {
			if l.end == "" || today <= l.end {
				customers[l.customerID], ports[l.portCode] = true, true
			}
		}
		r.Customers, r.Ports = len(customers), len(ports)
		if r.CapacityMbps > 0 {
			r.Utilisation = round3(float64(r.AllocatedMbps) / float64(r.CapacityMbps))
			r.ForecastUtil = round3(float64(r.ForecastMbps) / float64(r.CapacityMbps))
		}
		if bps, measured := peaks[p.ID]; measured {
			mbps := (bps + 999_999) / 1_000_000
			util := round3(float64(bps) / 1e6 / float64(p.SpeedMbps))
			r.MeasuredPeakMbps, r.MeasuredUtil = &mbps, &util
			if util >= s.settings.CapacityThreshold {
				r.FlagReasons = append(r.FlagReasons, fmt.Sprintf("measured peak %.0f %% ≥ %.0f %%", util*100, s.settings.CapacityThreshold*100))
			}
		} else if r.Utilisation >= s.settings.CapacityThreshold {
			r.FlagReasons = append(r.FlagReasons, fmt.Sprintf("allocated %.0f %% ≥ %.0f %%", r.Utilisation*100, s.settings.CapacityThreshold*100))
		}
		if r.ForecastUtil >= s.settings.CapacityThreshold {
			r.FlagReasons = append(r.FlagReasons, fmt.Sprintf("forecast %.0f %% on %s ≥ %.0f %%", r.ForecastUtil*100, fdate, s.settings.CapacityThreshold*100))
		}
		r.Flagged = len(r.FlagReasons) > 0
		rep.Rows = append(rep.Rows, r)
		if n := len(rep.Nodes); n == 0 || rep.Nodes[n-1].Node != r.Node || rep.Nodes[n-1].Kind != r.Kind {
			rep.Nodes = append(rep.Nodes, CapacityNode{Node: r.Node, Region: r.Region, Kind: r.Kind})
		}
		t := &rep.Nodes[len(rep.Nodes)-1]
		t.CapacityMbps += r.CapacityMbps
		t.ContractedMbps += r.ContractedMbps
		t.AllocatedMbps += r.AllocatedMbps
		t.ForecastMbps += r.ForecastMbps
		if r.Flagged {
			t.FlaggedPorts++
		}
	}
	return rep, nil
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// CSV renders the report as CSV (RFC 4180, header line first).
func (rep CapacityReport) CSV() string {
	var b strings.Builder
	b.WriteString("node,region,physical_port,kind,speed_mbps,oversubscription,capacity_mbps,contracted_mbps,allocated_mbps,headroom_mbps," +
		"utilisation,measured_peak_mbps,measured_utilisation,customers,customer_ports,forecast_date,forecast_mbps,forecast_utilisation,flagged,flag_reasons\r\n")
	for _, r := range rep.Rows {
		peak, util := "", ""
		if r.MeasuredPeakMbps != nil {
			peak, util = fmt.Sprint(*r.MeasuredPeakMbps), fmt.Sprint(*r.MeasuredUtil)
		}
		fields := []string{r.Node, r.Region, r.Port, r.Kind, fmt.Sprint(r.SpeedMbps), fmt.Sprint(r.Oversubscription),
			fmt.Sprint(r.CapacityMbps), fmt.Sprint(r.ContractedMbps), fmt.Sprint(r.AllocatedMbps), fmt.Sprint(r.HeadroomMbps),
			fmt.Sprint(r.Utilisation), peak, util, fmt.Sprint(r.Customers), fmt.Sprint(r.Ports), rep.ForecastDate,
			fmt.Sprint(r.ForecastMbps), fmt.Sprint(r.ForecastUtil), fmt.Sprint(r.Flagged), strings.Join(r.FlagReasons, "; ")}
		for i, f := range fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(csvField(f))
		}
		b.WriteString("\r\n")
	}
	return b.String()
}

// csvField quotes a field when needed and defuses spreadsheet formulas.
func csvField(s string) string {
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) && !isNumber(s) {
		s = "'" + s
	}
	if strings.ContainsAny(s, ",\"\r\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
