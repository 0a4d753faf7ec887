package dataplane

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"slices"
	"sync"
)

// The Manager's one memory of its own work: for each hub, a digest of
// every subsystem's input at that subsystem's last successful Set. It lets
// ApplyChanged — a pass for a new desired-state document — leave alone the
// subsystems whose input did not change, instead of reading each of them
// back from the kernel (an nft listing in two namespaces, link and tc dumps)
// while the customer's change waits. It is never a reason to skip work the
// kernel needs: a digest is noted only after its subsystem's Set returned
// without error, the whole hub is forgotten on any error of its set, on
// Remove and when its check fails, and ApplyAll (the agent's start and
// resync passes) sets every subsystem in full, reading back and repairing
// drift whatever is remembered.

// Subsystems as set in order by Manager.set; the keys of setMemory.
const (
	subUnderlay = "underlay"
	subDevices  = "devices" // tc.Release and links.Set: the hub's devices
	subNft      = "nft"
	subTC       = "tc"
	subBird     = "bird"
)

// setMemory is the digests of each hub's last successful set per subsystem.
type setMemory struct {
	mu   sync.Mutex                   // guards hubs
	hubs map[string]map[string]string // hub ID → subsystem → digest
}

// same reports whether sub of the hub last set successfully digest.
func (s *setMemory) same(hubID, sub, digest string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.hubs[hubID][sub]
	return ok && d == digest
}

// known reports whether anything is remembered of sub of the hub.
func (s *setMemory) known(hubID, sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.hubs[hubID][sub]
	return ok
}

func (s *setMemory) note(hubID, sub, digest string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hubs == nil {
		s.hubs = map[string]map[string]string{}
	}
	if s.hubs[hubID] == nil {
		s.hubs[hubID] = map[string]string{}
	}
	s.hubs[hubID][sub] = digest
}

func (s *setMemory) forget(hubID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.hubs, hubID)
}

// hubDigests are the digests of what each subsystem's Set reads of a hub.
// "" means the subsystem is always set: its input is not all in the hub.
type hubDigests map[string]string

// digestsOf computes the digests of h. The devices digest is of the whole
// hub but the fields that only the firewall, NAT and BGP read (a new field
// is thus in it by default: it can make a pass do more, never less); the
// firewall's and shaping's digests include it, since a device made anew by
// links.Set needs its netdev guard chains and qdiscs again.
func digestsOf(h Hub, paths birdPaths) hubDigests {
	devices := devicesDigest(h)
	d := hubDigests{subDevices: devices}
	if h.Backbone == nil {
		d[subUnderlay] = "none"
	} else {
		d[subUnderlay], _ = renderUnderlay(h)
	}
	nftComment, _ := renderNft(h)
	d[subNft] = devices + " " + nftComment
	type shaped struct {
		Name, Interface string
		SpeedMbps       int
	}
	tc := make([]shaped, len(h.Ports))
	for i, p := range h.Ports {
		tc[i] = shaped{p.Name, p.Interface, p.SpeedMbps}
	}
	d[subTC] = devices + " " + digestJSON(tc)
	// The aggregate policy's configuration depends on BIRD's table, which
	// only BIRD knows: such a hub's BIRD is always set.
	if !slices.ContainsFunc(h.Ports, func(p Port) bool { return p.Policy.Kind == PolicyAggregateRFC1918 }) {
		if conf, err := renderBird(h, paths, nil); err == nil {
			d[subBird] = digestJSON(string(conf))
		}
	}
	return d
}

func devicesDigest(h Hub) string {
	h.LocalASN, h.RouterID, h.ImportLimit = 0, netip.Addr{}, 0
	h.Ports = slices.Clone(h.Ports)
	for i := range h.Ports {
		p := &h.Ports[i]
		p.PeerASN, p.MD5, p.BFD, p.ImportLimit, p.BGPDisabled = 0, "", false, 0, false
		p.Policy, p.Firewall, p.NAPT, p.StaticNAT = RoutePolicy{}, nil, nil, nil
	}
	return digestJSON(h)
}

func digestJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "" // never the digest of anything set: the subsystem is set
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
