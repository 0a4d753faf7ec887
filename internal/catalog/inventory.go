package catalog

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Node is a hub node: a Linux machine in a region that runs `tsunagi agent`.
// This is operator data, kept apart from any customer's saved data (8.1.1).
type Node struct {
	ID        string         `json:"id"`
	Region    string         `json:"region"`
	Name      string         `json:"name"`
	CreatedAt time.Time      `json:"created_at"`
	Ports     []PhysicalPort `json:"physical_ports"`
}

// PhysicalPort is a port of a hub node.
type PhysicalPort struct {
	Name             string  `json:"name"`
	SpeedMbps        int64   `json:"speed_mbps"`
	Kind             string  `json:"kind"` // onprem | cloud-aws | cloud-azure | backbone
	Oversubscription float64 `json:"oversubscription"`
}

// NodeInput adds a hub node with its physical ports.
type NodeInput struct {
	Region string         `json:"region"`
	Name   string         `json:"name"`
	Ports  []PhysicalPort `json:"physical_ports"`
}

var (
	nodeNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)
	ifNameRE   = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._/-]{0,14}$`)
)

// PhysicalKinds and PhysicalSpeeds are what a physical port may be (the
// panel's form offers them); read-only.
var (
	PhysicalKinds  = []string{"onprem", "cloud-aws", "cloud-azure", "backbone"}
	PhysicalSpeeds = []int64{1_000, 10_000, 100_000}
)

// maxIfName is the kernel's limit on an interface name (IFNAMSIZ less the
// terminating zero).
const maxIfName = 15

// CreateNode adds a hub node and its physical ports (operator inventory).
func (c *Catalog) CreateNode(ctx context.Context, in NodeInput) (Node, error) {
	if !nodeNameRE.MatchString(in.Name) {
		return Node{}, fault.Field("name", "name must be 2–63 lowercase letters, digits or hyphens, starting with a letter")
	}
	if len(in.Ports) > 256 {
		return Node{}, fault.Field("physical_ports", "at most 256 physical ports per node")
	}
	seen := map[string]bool{}
	for i, p := range in.Ports {
		f := fmt.Sprintf("physical_ports[%d]", i)
		if err := checkPhysicalPort(f+".", p); err != nil {
			return Node{}, err
		}
		if seen[p.Name] {
			return Node{}, fault.Field(f+".name", "port %s is listed twice", p.Name)
		}
		seen[p.Name] = true
		if p.Oversubscription == 0 {
			in.Ports[i].Oversubscription = 1
		}
	}
	n := Node{ID: ids.New("nod"), Region: in.Region, Name: in.Name, CreatedAt: clock.Now(), Ports: in.Ports}
	if n.Ports == nil {
		n.Ports = []PhysicalPort{}
	}
	err := c.db.InTx(ctx, func(tx *store.Tx) error {
		r, err := c.RegionByCode(ctx, tx, in.Region)
		if err != nil {
			if fault.Is(err, fault.NotFound) {
				return fault.Field("region", "no such region")
			}
			return err
		}
		at := clock.Store(n.CreatedAt)
		if _, err := tx.Exec(ctx, `INSERT INTO hub_nodes (id, region_id, name, created_at) VALUES (?, ?, ?, ?)`, n.ID, r.ID, n.Name, at); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fault.Wrap(fault.Conflict, err, "node %s already exists", n.Name)
			}
			return err
		}
		for _, p := range n.Ports {
			if _, err := tx.Exec(ctx, `INSERT INTO physical_ports (id, node_id, name, speed_mbps, kind, oversubscription, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, ids.New("php"), n.ID, p.Name, p.SpeedMbps, p.Kind, p.Oversubscription, at); err != nil {
				return err
			}
		}
		return c.audit.RecordTx(ctx, tx, audit.Event{Action: "node.create", Target: "node:" + n.ID,
			Detail: map[string]any{"name": n.Name, "region": r.Code, "physical_ports": len(n.Ports)}})
	})
	if err != nil {
		return Node{}, fmt.Errorf("create node: %w", err)
	}
	return n, nil
}

// checkPhysicalPort validates one physical port; field prefixes the
// names of its fields in a refusal.
func checkPhysicalPort(field string, p PhysicalPort) error {
	switch {
	case !ifNameRE.MatchString(p.Name) || len(p.Name) > maxIfName:
		return fault.Field(field+"name", "name must be an interface name of at most %d characters", maxIfName)
	case strings.HasPrefix(p.Kind, "cloud-") && len(p.Name) > maxIfName-len(".4094"):
		// Customers' legs on it are VLAN sub-interfaces <name>.<tag>,
		// which must fit the kernel's interface names too.
		return fault.Field(field+"name", "a %s port's name must have at most %d characters, so that its VLAN sub-interfaces (<name>.4094) are interface names",
			p.Kind, maxIfName-len(".4094"))
	case !containsInt(PhysicalSpeeds, p.SpeedMbps):
		return fault.Field(field+"speed_mbps", "speed_mbps must be one of %v", PhysicalSpeeds)
	case !contains(PhysicalKinds, p.Kind):
		return fault.Field(field+"kind", "kind must be one of %v", PhysicalKinds)
	case p.Oversubscription != 0 && (p.Oversubscription < 1 || p.Oversubscription > 10):
		return fault.Field(field+"oversubscription", "oversubscription must be between 1.0 and 10.0")
	}
	return nil
}

// AddPhysicalPort adds a physical port to a registered hub node (operator
// inventory), e.g. the second port of a cloud kind that cloud ports'
// secondary links need. A name the node already has is a conflict, and so
// is a retired or decommissioned node: its ports are released for good and
// nothing is placed there again.
func (c *Catalog) AddPhysicalPort(ctx context.Context, node string, p PhysicalPort) (PhysicalPort, error) {
	if err := checkPhysicalPort("", p); err != nil {
		return PhysicalPort{}, err
	}
	if p.Oversubscription == 0 {
		p.Oversubscription = 1
	}
	err := c.db.InTx(ctx, func(tx *store.Tx) error {
		var nodeID, state string
		var decommissioned *string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT id, state, decommissioned_at FROM hub_nodes WHERE name = ?`, node),
			&nodeID, &state, &decommissioned); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fault.New(fault.NotFound, "no node %s", node)
			}
			return err
		}
		// fleet owns the states; 'retired' is fleet.NodeRetired.
		if state == "retired" || decommissioned != nil {
			return fault.New(fault.Conflict, "node %s is retired or decommissioned: it takes no new physical port", node)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO physical_ports (id, node_id, name, speed_mbps, kind, oversubscription, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, ids.New("php"), nodeID, p.Name, p.SpeedMbps, p.Kind, p.Oversubscription, clock.Store(clock.Now())); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fault.Wrap(fault.Conflict, err, "node %s already has a physical port %s", node, p.Name)
			}
			return err
		}
		return c.audit.RecordTx(ctx, tx, audit.Event{Action: "node.physical_port.add", Target: "node:" + nodeID,
			Detail: map[string]any{"name": p.Name, "kind": p.Kind, "speed_mbps": p.SpeedMbps, "oversubscription": p.Oversubscription}})
	})
	if err != nil {
		return PhysicalPort{}, fmt.Errorf("add physical port: %w", err)
	}
	return p, nil
}

// ListNodes lists hub nodes by name with their physical ports.
func (c *Catalog) ListNodes(ctx context.Context, p Page) ([]Node, string, error) {
	rows, err := c.db.Query(ctx, `SELECT n.id, r.code, n.name, n.created_at FROM hub_nodes n JOIN regions r ON r.id = n.region_id
		WHERE n.name > ? ORDER BY n.name LIMIT ?`, p.After, p.limit())
	if err != nil {
		return nil, "", fmt.Errorf("list nodes: %w", err)
	}
	out := []Node{}
	var keys []string
	for rows.Next() {
		var n Node
		var at string
		if err := rows.Scan(&n.ID, &n.Region, &n.Name, &at); err != nil {
			rows.Close()
			return nil, "", fmt.Errorf("list nodes: %w", err)
		}
		n.CreatedAt = parseTime(at)
		out = append(out, n)
		keys = append(keys, n.Name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list nodes: %w", err)
	}
	for i := range out {
		prow, err := c.db.Query(ctx, `SELECT name, speed_mbps, kind, oversubscription FROM physical_ports WHERE node_id = ? ORDER BY name`, out[i].ID)
		if err != nil {
			return nil, "", fmt.Errorf("list nodes: %w", err)
		}
		out[i].Ports = []PhysicalPort{}
		for prow.Next() {
			var pp PhysicalPort
			if err := prow.Scan(&pp.Name, &pp.SpeedMbps, &pp.Kind, &pp.Oversubscription); err != nil {
				prow.Close()
				return nil, "", fmt.Errorf("list nodes: %w", err)
			}
			out[i].Ports = append(out[i].Ports, pp)
		}
		prow.Close()
	}
	return out, next(keys, p), nil
}
