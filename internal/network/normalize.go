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
	if cfg.ASN == 0 {
		cfg.ASN = s.DefaultASN
	}
	active := map[string]bool{}
	for _, p := range f.Ports {
		active[p.Code] = p.Active
	}
	cfg.Ports = slices.DeleteFunc(cfg.Ports, func(pc PortConfig) bool {
		a, known := active[pc.PortCode]
		return known && !a
	})
	for i := range cfg.Ports {
		if op := cfg.Ports[i].OnPrem; op != nil {
			g := &op.L2Guard
			if *g == (L2Guard{}) {
				g.BPDUGuard = true
			}
			g.MACLimit = defInt(g.MACLimit, MaxMACLimit)
			g.MACAgeingSeconds = defInt(g.MACAgeingSeconds, MACAgeingSeconds)
			g.MTU = defInt(g.MTU, OnPremMTU)
			g.StormControlPPS = defInt(g.StormControlPPS, DefaultStormPPS)
			g.FlapLimit = defInt(g.FlapLimit, DefaultFlapLimit)
			g.FlapWindowSeconds = defInt(g.FlapWindowSeconds, DefaultFlapWindowS)
		}
	}
	have := map[catalog.HubID]int{}
	for i, h := range cfg.Hubs {
		have[h.HubID] = i
	}
	used := planPrefixes(*cfg)
	for _, hf := range f.Hubs {
		i, ok := have[hf.ID]
		if !ok {
			cfg.Hubs = append(cfg.Hubs, HubConfig{HubID: hf.ID})
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
	slices.SortFunc(cfg.Hubs, func(a, b HubConfig) int { return strings.Compare(string(a.HubID), string(b.HubID)) })
	slices.SortFunc(cfg.Ports, func(a, b PortConfig) int { return strings.Compare(a.PortCode, b.PortCode) })
	o := &cfg.Objects
	slices.SortFunc(o.Addresses, func(a, b AddressObject) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(o.Services, func(a, b ServiceObject) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(o.Applications, func(a, b ApplicationObject) int { return strings.Compare(a.Name, b.Name) })
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
}

func defInt(v, def int) int {
	if v == 0 {
		return def
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
