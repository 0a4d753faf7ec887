package network

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
)

// Normalize completes cfg from the facts and puts it in canonical order, so
// that equal configurations encode to equal bytes:
//   - the hub ASN defaults to the deployment's;
//   - every hub gets a configuration, its internal (/24) and monitoring (/28)
//     networks drawn from its region's pool where the customer gave none,
//     avoiding everything the customer's plan already holds;
//   - configurations of cancelled ports are dropped (the review shows it);
//   - unset layer-2 guard values take the service defaults;
//   - hubs, ports and objects are sorted by their keys (rules keep their
//     order: it is their meaning).
//
// Normalize never makes an invalid configuration valid by changing what the
// customer wrote; it only fills what was left empty.
func Normalize(f Facts, cfg *Config, s Settings) {
	normalize(f, cfg, s)
}

// Origin maps each list element of a normalized configuration to its index
// in the configuration as the client sent it (-1: added by Normalize), so
// that a problem names the element the client wrote, not its sorted place.
type Origin struct {
	Hubs, Ports, Addresses, Services, Applications []int
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// sortKeyed sorts xs by key, moving orig along.
func sortKeyed[T any](xs []T, orig []int, key func(T) string) {
	idx := indexes(len(xs))
	slices.SortStableFunc(idx, func(a, b int) int { return strings.Compare(key(xs[a]), key(xs[b])) })
	nx, no := make([]T, len(xs)), make([]int, len(xs))
	for i, j := range idx {
		nx[i], no[i] = xs[j], orig[j]
	}
	copy(xs, nx)
	copy(orig, no)
}

// normalize is Normalize that also says where each element came from.
func normalize(f Facts, cfg *Config, s Settings) Origin {
	// The caller's slices and on-premises connections are not touched: what
	// is filled in or sorted is a copy.
	cfg.Hubs = slices.Clone(cfg.Hubs)
	cfg.Ports = slices.Clone(cfg.Ports)
	for i := range cfg.Ports {
		if op := cfg.Ports[i].OnPrem; op != nil {
			c := *op
			cfg.Ports[i].OnPrem = &c
		}
	}
	cfg.Objects.Addresses = slices.Clone(cfg.Objects.Addresses)
	cfg.Objects.Services = slices.Clone(cfg.Objects.Services)
	cfg.Objects.Applications = slices.Clone(cfg.Objects.Applications)
	org := Origin{Hubs: indexes(len(cfg.Hubs)), Ports: indexes(len(cfg.Ports)), Addresses: indexes(len(cfg.Objects.Addresses)),
		Services: indexes(len(cfg.Objects.Services)), Applications: indexes(len(cfg.Objects.Applications))}
	if cfg.ASN == 0 {
		cfg.ASN = ASN(s.DefaultASN)
	}
	active := map[string]bool{}
	for _, p := range f.Ports {
		active[p.Code] = p.Active
	}
	kept, keptOrg := cfg.Ports[:0], org.Ports[:0]
	for i, pc := range cfg.Ports {
		if a, known := active[pc.PortCode]; known && !a {
			continue
		}
		kept, keptOrg = append(kept, pc), append(keptOrg, org.Ports[i])
	}
	cfg.Ports, org.Ports = kept, keptOrg
	for i := range cfg.Ports {
		if op := cfg.Ports[i].OnPrem; op != nil {
			g := &op.L2Guard
			if g.BPDUGuard == nil {
				on := true
				g.BPDUGuard = &on
			}
			g.MACLimit = defInt(g.MACLimit, MaxMACLimit)
			g.MACAgeingSeconds = defInt(g.MACAgeingSeconds, MACAgeingSeconds)
			g.MTU = defInt(g.MTU, OnPremMTU)
			g.StormControlPPS = defInt(g.StormControlPPS, DefaultStormPPS)
			g.FlapLimit = defInt(g.FlapLimit, DefaultFlapLimit)
			g.FlapWindowSeconds = defInt(g.FlapWindowSeconds, DefaultFlapWindowS)
		}
	}
	// A removed hub's configuration, kept in the version it was removed
	// from, goes as a cancelled port's does.
	keptHubs, keptHubOrg := cfg.Hubs[:0], org.Hubs[:0]
	for i, h := range cfg.Hubs {
		if !slices.Contains(f.RemovedHubs, h.HubID) {
			keptHubs, keptHubOrg = append(keptHubs, h), append(keptHubOrg, org.Hubs[i])
		}
	}
	cfg.Hubs, org.Hubs = keptHubs, keptHubOrg
	have := map[catalog.HubID]int{}
	for i, h := range cfg.Hubs {
		have[h.HubID] = i
	}
	used := planPrefixes(*cfg)
	for _, hf := range f.Hubs {
		i, ok := have[hf.ID]
		if !ok {
			cfg.Hubs = append(cfg.Hubs, HubConfig{HubID: hf.ID})
			org.Hubs = append(org.Hubs, -1)
			i = len(cfg.Hubs) - 1
		}
		h := &cfg.Hubs[i]
		pool := s.DefaultPool
		if p, ok := s.RegionPools[hf.Region]; ok {
			pool = p
		}
		if h.InternalNetwork == "" {
			if p, ok := firstFree(pool, 24, used); ok {
				h.InternalNetwork = p.String()
				used = append(used, p)
			}
		}
		if h.MonitoringNetwork == "" {
			if p, ok := firstFree(pool, 28, used); ok {
				h.MonitoringNetwork = p.String()
				used = append(used, p)
			}
		}
	}
	sortKeyed(cfg.Hubs, org.Hubs, func(h HubConfig) string { return string(h.HubID) })
	sortKeyed(cfg.Ports, org.Ports, func(p PortConfig) string { return p.PortCode })
	o := &cfg.Objects
	sortKeyed(o.Addresses, org.Addresses, func(a AddressObject) string { return a.Name })
	sortKeyed(o.Services, org.Services, func(s ServiceObject) string { return s.Name })
	sortKeyed(o.Applications, org.Applications, func(a ApplicationObject) string { return a.Name })
	if o.Addresses == nil {
		o.Addresses = []AddressObject{}
	}
	if o.Services == nil {
		o.Services = []ServiceObject{}
	}
	if o.Applications == nil {
		o.Applications = []ApplicationObject{}
	}
	if cfg.Hubs == nil {
		cfg.Hubs = []HubConfig{}
	}
	if cfg.Ports == nil {
		cfg.Ports = []PortConfig{}
	}
	return org
}

func defInt(v Tunable, def int) Tunable {
	if v == 0 {
		return Tunable(def)
	}
	return v
}

// planPrefixes lists the parseable prefixes of cfg's address plan.
func planPrefixes(cfg Config) []netip.Prefix {
	var out []netip.Prefix
	add := func(s string) {
		if p, err := ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	link := func(hub string, length int) {
		if a, err := ParseAddr(hub); err == nil && length >= 0 && length <= 32 {
			out = append(out, netip.PrefixFrom(a, length).Masked())
		}
	}
	for _, h := range cfg.Hubs {
		add(h.InternalNetwork)
		add(h.MonitoringNetwork)
	}
	for _, p := range cfg.Ports {
		if p.OnPrem != nil {
			link(p.OnPrem.HubAddress, p.OnPrem.PrefixLength)
		}
		if p.Cloud != nil {
			link(p.Cloud.Primary.HubAddress, p.Cloud.Primary.PrefixLength)
			link(p.Cloud.Secondary.HubAddress, p.Cloud.Secondary.PrefixLength)
		}
	}
	return out
}

// firstFree returns the first /bits block of pool that overlaps nothing in used.
func firstFree(pool netip.Prefix, bits int, used []netip.Prefix) (netip.Prefix, bool) {
	if bits < pool.Bits() {
		return netip.Prefix{}, false
	}
	step := uint32(1) << (32 - bits)
	start := addrU32(pool.Masked().Addr())
	end := addrU32(lastAddr(pool))
	for a := start; a >= start && a <= end; a += step {
		p := netip.PrefixFrom(u32Addr(a), bits)
		if !overlapsAny(p, used) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

func addrU32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func u32Addr(x uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
}
