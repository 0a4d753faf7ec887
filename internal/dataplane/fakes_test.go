package dataplane

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
)

// Fakes of the kernel and BIRD, with the same semantics the real ones show
// where the subsystems depend on them: a moved link comes up down and
// without addresses (keeping its MTU and carrier count), a namespace starts
// with lo down, sysctls default to 0, links start with an MTU of 1500.

type fakeNet struct {
	mu      sync.Mutex
	ns      map[string]map[string]*LinkState // "" is the node namespace; guarded by mu
	sysctls map[string]string                // ns + " " + key; guarded by mu
	floods  map[string][]netip.Addr          // ns + " " + VXLAN device; guarded by mu
	// carriers are set by tests, by device name (it survives moves, as
	// the kernel's count does); guarded by mu.
	carriers map[string]Carrier
}

func newFakeNet(nodeLinks ...string) *fakeNet {
	f := &fakeNet{ns: map[string]map[string]*LinkState{"": {}}, sysctls: map[string]string{}, floods: map[string][]netip.Addr{},
		carriers: map[string]Carrier{}}
	for _, l := range nodeLinks {
		f.ns[""][l] = &LinkState{Name: l, MTU: 1500}
	}
	return f
}

func (f *fakeNet) SetMTU(ns, name string, mtu int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.get(ns, name)
	if err == nil {
		l.MTU = mtu
	}
	return err
}

func (f *fakeNet) Carriers(ns string) (map[string]Carrier, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	links, ok := f.ns[ns]
	if !ok {
		return nil, fmt.Errorf("namespace %q: no such file or directory", ns)
	}
	out := map[string]Carrier{}
	for name := range links {
		out[name] = f.carriers[name]
	}
	return out, nil
}

// setCarrier sets what Carriers reports of a device.
func (f *fakeNet) setCarrier(name string, c Carrier) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.carriers[name] = c
}

func (f *fakeNet) NamespaceExists(ns string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.ns[ns]
	return ok, nil
}

func (f *fakeNet) CreateNamespace(ns string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.ns[ns]; ok {
		return fmt.Errorf("namespace %s exists", ns)
	}
	f.ns[ns] = map[string]*LinkState{"lo": {Name: "lo", Addrs: []netip.Prefix{mustPrefix("127.0.0.1/8")}}}
	return nil
}

func (f *fakeNet) DeleteNamespace(ns string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ns, ns)
	return nil
}

func (f *fakeNet) get(ns, name string) (*LinkState, error) {
	links, ok := f.ns[ns]
	if !ok {
		return nil, fmt.Errorf("namespace %q: no such file or directory", ns)
	}
	l, ok := links[name]
	if !ok {
		return nil, fmt.Errorf("link %s in %q: Link not found", name, ns)
	}
	return l, nil
}

func (f *fakeNet) Links(ns string) ([]LinkState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	links, ok := f.ns[ns]
	if !ok {
		return nil, fmt.Errorf("namespace %q: no such file or directory", ns)
	}
	var out []LinkState
	for _, l := range links {
		c := *l
		c.Addrs = slices.Clone(l.Addrs)
		slices.SortFunc(c.Addrs, func(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) })
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b LinkState) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *fakeNet) MoveLink(from, name, to string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.get(from, name)
	if err != nil {
		return err
	}
	if _, ok := f.ns[to]; !ok {
		return fmt.Errorf("namespace %q: no such file or directory", to)
	}
	delete(f.ns[from], name)
	// The kernel drops addresses and takes the link down and out of its
	// bridge on a move; the alias stays.
	f.ns[to][name] = &LinkState{Name: name, Alias: l.Alias, MTU: l.MTU, Kind: l.Kind}
	return nil
}

func (f *fakeNet) SetAlias(ns, name, alias string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.get(ns, name)
	if err == nil {
		l.Alias = alias
	}
	return err
}

func (f *fakeNet) SetUp(ns, name string, up bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.get(ns, name)
	if err == nil {
		l.Up = up
	}
	return err
}

func (f *fakeNet) AddrAdd(ns, name string, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.get(ns, name)
	if err != nil {
		return err
	}
	if slices.Contains(l.Addrs, p) {
		return errors.New("file exists")
	}
	l.Addrs = append(l.Addrs, p)
	return nil
}

func (f *fakeNet) AddrDel(ns, name string, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.get(ns, name)
	if err != nil {
		return err
	}
	i := slices.Index(l.Addrs, p)
	if i < 0 {
		return errors.New("cannot assign requested address")
	}
	l.Addrs = slices.Delete(l.Addrs, i, i+1)
	return nil
}

func (f *fakeNet) Sysctl(ns, key string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.ns[ns]; !ok {
		return "", fmt.Errorf("namespace %q: no such file or directory", ns)
	}
	if v, ok := f.sysctls[ns+" "+key]; ok {
		return v, nil
	}
	return "0", nil
}

func (f *fakeNet) SetSysctl(ns, key, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sysctls[ns+" "+key] = value
	return nil
}

// fakeNft keeps the last script applied per namespace and lists it back
// (a script declares its tables as nft lists them, counters aside).
type fakeNft struct {
	mu     sync.Mutex
	tables map[string]string // ns → script; guarded by mu
}

func (f *fakeNft) Apply(_ context.Context, ns, script string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tables == nil {
		f.tables = map[string]string{}
	}
	f.tables[ns] = script
	return nil
}

func (f *fakeNft) List(_ context.Context, ns string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tables[ns], nil
}

// fakeUnderlay keeps the node namespace's underlay tables: the last script
// that declared each, gone when a script only deletes it.
type fakeUnderlay struct {
	mu     sync.Mutex
	tables map[string]string // table → script; guarded by mu
}

func (f *fakeUnderlay) Apply(_ context.Context, script string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tables == nil {
		f.tables = map[string]string{}
	}
	table := strings.Fields(script)[2]
	if strings.Contains(script, "table ip "+table+" {") {
		f.tables[table] = script
	} else {
		delete(f.tables, table)
	}
	return nil
}

func (f *fakeUnderlay) List(_ context.Context, table string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tables[table], nil
}

// fakeTC keeps one rate per namespace and device, the ifb devices by
// namespace and the ingress redirects by namespace and device. Removals of
// what is not there succeed, as they do on the kernel.
type fakeTC struct {
	mu        sync.Mutex
	rates     map[string]uint64            // guarded by mu
	ifbs      map[string]map[string]string // ns → ifb → device; guarded by mu
	redirects map[string]string            // ns/dev → ifb; guarded by mu
}

func (f *fakeTC) Rate(ns, dev string) (uint64, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rates[ns+"/"+dev]
	return r, ok, nil
}

func (f *fakeTC) set(ns, dev string, bps uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rates == nil {
		f.rates = map[string]uint64{}
	}
	f.rates[ns+"/"+dev] = bps
	return nil
}

func (f *fakeTC) AddShaping(ns, dev string, bps uint64) error { return f.set(ns, dev, bps) }
func (f *fakeTC) ChangeRate(ns, dev string, bps uint64) error { return f.set(ns, dev, bps) }
func (f *fakeTC) RemoveShaping(ns, dev string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.rates, ns+"/"+dev)
	return nil
}

func (f *fakeTC) IFBs(ns string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.ifbs[ns]), nil
}

func (f *fakeTC) AddIFB(ns, ifb, dev string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ifbs == nil {
		f.ifbs = map[string]map[string]string{}
	}
	if f.ifbs[ns] == nil {
		f.ifbs[ns] = map[string]string{}
	}
	f.ifbs[ns][ifb] = dev
	return nil
}

func (f *fakeTC) DeleteIFB(ns, ifb string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ifbs[ns], ifb)
	delete(f.rates, ns+"/"+ifb)
	return nil
}

func (f *fakeTC) Redirect(ns, dev string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	to, ok := f.redirects[ns+"/"+dev]
	if _, alive := f.ifbs[ns][to]; ok && !alive {
		to = ""
	}
	return to, ok, nil
}

func (f *fakeTC) SetRedirect(ns, dev, ifb string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.ifbs[ns][ifb]; !ok {
		return fmt.Errorf("ifb %s in %q: not found", ifb, ns)
	}
	if f.redirects == nil {
		f.redirects = map[string]string{}
	}
	f.redirects[ns+"/"+dev] = ifb
	return nil
}

// dump writes the fake's shaping as sorted lines: "ns/dev bps" for each
// htb, "ifb ns/ifb for dev", "redirect ns/dev to ifb".
func (f *fakeTC) dump() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var rates, ifbs, redirects []string
	for k, bps := range f.rates {
		rates = append(rates, fmt.Sprintf("%s %d\n", k, bps))
	}
	for ns, m := range f.ifbs {
		for ifb, dev := range m {
			ifbs = append(ifbs, fmt.Sprintf("ifb %s/%s for %s\n", ns, ifb, dev))
		}
	}
	for k, ifb := range f.redirects {
		redirects = append(redirects, fmt.Sprintf("redirect %s to %s\n", k, ifb))
	}
	for _, l := range [][]string{rates, ifbs, redirects} {
		slices.Sort(l)
	}
	return strings.Join(rates, "") + strings.Join(ifbs, "") + strings.Join(redirects, "")
}

func (f *fakeTC) RemoveRedirect(ns, dev string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.redirects, ns+"/"+dev)
	return nil
}

// fakeBird runs no BIRD: it remembers which namespaces "run" one, what
// configuration each loaded, and refuses configurations containing
// "REFUSE" (standing in for a parse error).
type fakeBird struct {
	mu      sync.Mutex
	running map[string]string // pid file → loaded config; guarded by mu
	routes  []Route           // guarded by mu
}

func (f *fakeBird) Check(_ context.Context, config string) error {
	b, err := os.ReadFile(config)
	if err != nil {
		return err
	}
	if strings.Contains(string(b), "REFUSE") {
		return errors.New("bird -p: syntax error")
	}
	return nil
}

func (f *fakeBird) Running(_ string, p birdPaths) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.running[p.PID]
	return ok
}

func (f *fakeBird) load(p birdPaths) error {
	b, err := os.ReadFile(p.Config)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running == nil {
		f.running = map[string]string{}
	}
	f.running[p.PID] = string(b)
	return nil
}

func (f *fakeBird) Start(_ context.Context, _ string, p birdPaths) error { return f.load(p) }

// Configure refuses a configuration containing "RTFAIL0", standing in for
// what bird -p passes but a running BIRD rejects.
func (f *fakeBird) Configure(_ context.Context, p birdPaths) error {
	if b, _ := os.ReadFile(p.Config); strings.Contains(string(b), "RTFAIL0") {
		return &BirdError{Code: 8002, Text: "reconfiguration failed"}
	}
	return f.load(p)
}

func (f *fakeBird) Routes(_ context.Context, _ birdPaths, within []netip.Prefix) ([]Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Route
	for _, r := range f.routes {
		for _, w := range within {
			if r.Net.Bits() >= w.Bits() && w.Contains(r.Net.Addr()) {
				out = append(out, r)
				break
			}
		}
	}
	return out, nil
}

func (f *fakeBird) Stop(p birdPaths) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.running, p.PID)
	return nil
}

func (f *fakeBird) loaded(p birdPaths) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running[p.PID]
}

func (f *fakeNet) AddVXLAN(ns string, v VXLANSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	links, ok := f.ns[ns]
	if !ok {
		return fmt.Errorf("namespace %q: no such file or directory", ns)
	}
	if _, ok := links[v.Name]; ok {
		return errors.New("file exists")
	}
	spec := v
	links[v.Name] = &LinkState{Name: v.Name, Kind: "vxlan", VXLAN: &spec, MTU: 1450}
	return nil
}

func (f *fakeNet) DeleteLink(ns, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(ns, name); err != nil {
		return err
	}
	delete(f.ns[ns], name)
	delete(f.floods, ns+" "+name)
	// A deleted bridge lets its ports go.
	for _, l := range f.ns[ns] {
		if l.Master == name {
			l.Master, l.Isolated = "", false
		}
	}
	return nil
}

func (f *fakeNet) vxlan(ns, dev string) error {
	l, err := f.get(ns, dev)
	if err == nil && l.Kind != "vxlan" {
		err = fmt.Errorf("%s is not a VXLAN device", dev)
	}
	return err
}

func (f *fakeNet) Floods(ns, dev string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.vxlan(ns, dev); err != nil {
		return nil, err
	}
	return slices.Clone(f.floods[ns+" "+dev]), nil
}

func (f *fakeNet) FloodAdd(ns, dev string, remote netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.vxlan(ns, dev); err != nil {
		return err
	}
	k := ns + " " + dev
	if slices.Contains(f.floods[k], remote) {
		return errors.New("file exists")
	}
	f.floods[k] = append(f.floods[k], remote)
	slices.SortFunc(f.floods[k], netip.Addr.Compare)
	return nil
}

func (f *fakeNet) FloodDel(ns, dev string, remote netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.vxlan(ns, dev); err != nil {
		return err
	}
	k := ns + " " + dev
	i := slices.Index(f.floods[k], remote)
	if i < 0 {
		return errors.New("no such file or directory")
	}
	f.floods[k] = slices.Delete(f.floods[k], i, i+1)
	return nil
}

func (f *fakeNet) AddVLAN(ns string, v VLANLink) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(ns, v.Parent); err != nil {
		return err
	}
	if _, ok := f.ns[ns][v.Name]; ok {
		return errors.New("file exists")
	}
	f.ns[ns][v.Name] = &LinkState{Name: v.Name, Kind: "vlan"}
	return nil
}

func (f *fakeNet) AddBridge(ns string, b BridgeSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	links, ok := f.ns[ns]
	if !ok {
		return fmt.Errorf("namespace %q: no such file or directory", ns)
	}
	if _, ok := links[b.Name]; ok {
		return errors.New("file exists")
	}
	links[b.Name] = &LinkState{Name: b.Name, Kind: "bridge", MTU: 1500}
	return nil
}

func (f *fakeNet) SetMaster(ns, name, master string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.get(ns, name)
	if err != nil {
		return err
	}
	if master != "" {
		if m, err := f.get(ns, master); err != nil || m.Kind != "bridge" {
			return fmt.Errorf("master %s: not a bridge in %q", master, ns)
		}
	}
	l.Master, l.Isolated = master, false
	return nil
}

func (f *fakeNet) SetIsolated(ns, name string, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.get(ns, name)
	if err != nil {
		return err
	}
	if l.Master == "" {
		return fmt.Errorf("%s is not a bridge port", name)
	}
	l.Isolated = on
	return nil
}
