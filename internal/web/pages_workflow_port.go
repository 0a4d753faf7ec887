package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
)

// A port's draft page: one form per part of the port's configuration (the
// connection with its BGP peer, route policy and layer-2 guards; the
// firewall mode; each firewall rule; NAPT grades; static NAT; the speed
// request). Each form changes its part of the port as the draft holds it
// and saves the whole port as PUT /api/v1/network/draft/ports/{code} does,
// so the workflow's validation decides; its refusal is shown next to the
// form's field, named after the API's JSON field.

// workflowPortPages are the port pages of the draft.
func (s *Server) workflowPortPages() []pageRoute {
	read, edit := identity.ActNetworkRead, identity.ActNetworkEdit
	save := []string{"PUT /api/v1/network/draft/ports/{code}"}
	const base = "/network/draft/ports/{code}"
	return []pageRoute{
		{"GET", base, read, []string{"GET /api/v1/network/draft"}, s.netPortPage},
		{"POST", base + "/connection", edit, save, s.netPortForm("connection", netConnectionFields, editConnection)},
		{"POST", base + "/firewall", edit, save, s.netPortForm("firewall", []string{"mode"}, editFirewallMode)},
		{"POST", base + "/rules", edit, save, s.netPortForm("rule-new", netRuleFields, editAddRule)},
		{"POST", base + "/rules/{rule}", edit, save, s.netPortForm("rule-{rule}", netRuleFields, editRule)},
		{"POST", base + "/rules/{rule}/delete", edit, save, s.netPortForm("rule-{rule}", nil, editDeleteRule)},
		{"POST", base + "/rules/{rule}/move", edit, save, s.netPortForm("rule-{rule}", nil, editMoveRule)},
		{"POST", base + "/napt", edit, save, s.netPortForm("napt", []string{"napt", "sessions"}, editNAPT)},
		{"POST", base + "/static-nat", edit, save, s.netPortForm("static_nat", []string{"static_nat", "inside"}, editStaticNAT)},
		{"POST", base + "/speed", edit, []string{"PUT /api/v1/network/draft/ports/{code}/speed"}, s.netPortSpeedPage},
		{"POST", base + "/speed/delete", edit, []string{"DELETE /api/v1/network/draft/ports/{code}/speed"}, s.netPortSpeedRemovePage},
		{"POST", base + "/remove", edit, []string{"DELETE /api/v1/network/draft/ports/{code}"}, s.netPortRemovePage},
	}
}

// netPort is a port's draft page.
type netPort struct {
	netEditState
	Port catalog.Port
	// Config is the port as the draft holds it (as applied when there is
	// no draft); Configured says whether the configuration has it at all.
	Config     network.PortConfig
	Configured bool
	HasDraft   bool
	Objects    network.Objects
	Cloud      bool
	Public     bool
	Speeds     []int64
	Speed      *network.SpeedRequest // the draft's speed request of the port
	Removing   bool                  // the draft removes the port (pages_ending.go)
	Grades     []int                 // the NAPT grades on sale, by sessions
	NAPTSlots  []int                 // the port's grades, padded with 0 to the maximum
	Insides    string                // static NAT inside addresses, one a line
	Today      string
	// The parts of Config the forms show, never nil: a port configured
	// for the first time starts from empty forms.
	CloudConn  network.CloudConnection
	OnPremConn network.OnPremConnection
	FW         network.Firewall
	BPDUGuard  bool
	// GradePrefix is the public prefix length of each NAPT grade.
	GradePrefix map[int]int
	Opt         netOptions
	// NewRule is what the form for a new rule starts from.
	NewRule network.Rule
}

// netOptions are the choices of the workflow's selects.
type netOptions struct {
	Modes, Actions, PolicyTypes, Protocols []string
}

var netOpts = netOptions{
	Modes:       []string{"stateful", "stateless"},
	Actions:     []string{"accept", "drop", "reject"},
	PolicyTypes: []string{network.PolicyDefaultRoute, network.PolicyAggregateRFC1918, network.PolicyUserDefined},
	Protocols:   []string{"tcp", "udp", "icmp", "any"},
}

func (s *Server) netPortData(r *http.Request) (netPort, error) {
	var pg netPort
	n, err := s.network()
	if err != nil {
		return pg, err
	}
	ctx, sc := r.Context(), principal(r).Scope()
	// The catalog answers NotFound for a port that is not the customer's.
	if pg.Port, err = s.deps.Catalog.GetPort(ctx, sc, r.PathValue("code")); err != nil {
		return pg, err
	}
	if pg.netEditState, err = s.netEditState(r, n); err != nil {
		return pg, err
	}
	d, err := netDraftOrNil(r, n)
	if err != nil {
		return pg, err
	}
	var cfg network.Config
	if d != nil {
		cfg, pg.HasDraft = d.Config, true
		for _, sr := range d.SpeedChanges {
			if sr.PortCode == pg.Port.PortCode {
				pg.Speed = &sr
			}
		}
		pg.Removing = slices.Contains(d.PortRemovals, pg.Port.PortCode)
	} else {
		v, err := n.Applied(ctx, sc)
		if err != nil {
			return pg, err
		}
		cfg = v.Config
	}
	pg.Objects = cfg.Objects
	pg.Config = network.PortConfig{PortCode: pg.Port.PortCode}
	for _, p := range cfg.Ports {
		if p.PortCode == pg.Port.PortCode {
			pg.Config, pg.Configured = p, true
		}
	}
	pg.Cloud = pg.Port.Kind != "onprem"
	pg.Public = strings.HasSuffix(pg.Port.Kind, "-public")
	pg.Speeds = catalog.PortKinds[pg.Port.Kind]
	for g := range network.NAPTGrades {
		pg.Grades = append(pg.Grades, g)
	}
	sort.Ints(pg.Grades)
	pg.NAPTSlots = make([]int, network.MaxNAPTGrades)
	for i, g := range pg.Config.NAPT {
		if i < len(pg.NAPTSlots) {
			pg.NAPTSlots[i] = g.Sessions
		}
	}
	insides := make([]string, len(pg.Config.StaticNAT))
	for i, sn := range pg.Config.StaticNAT {
		insides[i] = sn.Inside
	}
	pg.Insides = strings.Join(insides, "\n")
	pg.Today = clock.Today()
	pg.BPDUGuard = true
	if c := pg.Config.Cloud; c != nil {
		pg.CloudConn = *c
	}
	if o := pg.Config.OnPrem; o != nil {
		pg.OnPremConn = *o
		pg.BPDUGuard = o.L2Guard.BPDUGuard == nil || *o.L2Guard.BPDUGuard
	}
	if f := pg.Config.Firewall; f != nil {
		pg.FW = *f
	}
	pg.GradePrefix, pg.Opt = network.NAPTGrades, netOpts
	pg.NewRule = network.Rule{Action: "accept", Sources: []string{"any"}, Destinations: []string{"any"}}
	return pg, nil
}

func (s *Server) netPortPage(w http.ResponseWriter, r *http.Request) error {
	pg, err := s.netPortData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "net-port", pg)
}

// netPortPost reads a form sent from the port page, with the workflow it
// acts through and the page it shows again on a refusal.
func (s *Server) netPortPost(w http.ResponseWriter, r *http.Request) (*network.Workflow, netPort, error) {
	if err := parseForm(w, r); err != nil {
		return nil, netPort{}, err
	}
	n, err := s.network()
	if err != nil {
		return nil, netPort{}, err
	}
	pg, err := s.netPortData(r)
	return n, pg, err
}

// netPortForm handles one form of the port page: edit changes a copy of
// the port's configuration from the form, and the port is saved into the
// draft. A refusal shows the page again with the message next to the
// form's field (fields lists the form's field names).
func (s *Server) netPortForm(form string, fields []string, edit func(*http.Request, *network.PortConfig) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		n, pg, err := s.netPortPost(w, r)
		if err != nil {
			return err
		}
		pc, err := clonePort(pg.Config)
		if err != nil {
			return err
		}
		if err = edit(r, &pc); err == nil {
			_, err = n.SavePort(r.Context(), principal(r).Scope(), pg.Port.PortCode, pc)
		}
		if err != nil {
			// The hidden "form" input tells the page which form to show
			// as sent; it is the form's own name, not the client's word.
			r.PostForm.Set("form", strings.ReplaceAll(form, "{rule}", r.PathValue("rule")))
			return s.renderRefused(w, r, "net-port", pg, portFormFault(err, fields))
		}
		anchor := strings.SplitN(form, "-", 2)[0]
		return redirect(w, r, "/network/draft/ports/"+pg.Port.PortCode+"#"+anchor, "net.flash_saved")
	}
}

// clonePort copies a port's configuration deeply, so that a refused edit
// leaves the page's data as the draft holds it.
func clonePort(pc network.PortConfig) (network.PortConfig, error) {
	b, err := json.Marshal(pc)
	if err != nil {
		return pc, err
	}
	var out network.PortConfig
	return out, json.Unmarshal(b, &out)
}

// portFormFault names a refusal's field as the port page's form does: the
// API's path relative to the port ("cloud.primary.hub_address") becomes the
// form field ("primary_hub_address"), and a problem outside the form (in
// another port, in the objects, a contract limit) is shown above the form.
func portFormFault(err error, fields []string) error {
	f, ok := fault.As(err)
	if !ok || f.Field == "" {
		return err
	}
	path := f.Field
	name := formField(path)
	for _, leg := range []string{"primary", "secondary"} {
		if strings.Contains(path, "."+leg+".") {
			name = leg + "_" + name
		}
	}
	outside := strings.HasPrefix(path, "ports") || strings.HasPrefix(path, "objects") || strings.HasPrefix(path, "hubs") || path == "asn"
	if !outside && !slices.Contains(fields, name) {
		return aboveForm{err}
	}
	g := *f
	g.Field = ""
	if !outside {
		g.Field = name
	}
	return &g
}

var netConnectionFields = []string{
	"hub_address", "customer_address", "prefix_length", "peer_asn", "md5", "bfd",
	"bpdu_guard", "storm_control_pps", "flap_limit", "flap_window_seconds", "mac_limit", "mac_ageing_seconds", "mtu",
	"vlan", "primary_hub_address", "primary_peer_address", "primary_prefix_length",
	"secondary_hub_address", "secondary_peer_address", "secondary_prefix_length", "type", "prefixes", "mode", "sessions",
}

var netRuleFields = []string{"action", "sources", "destinations", "services", "applications", "log", "comment"}

// formInt reads an integer field; empty is 0 ("left out").
func formInt(r *http.Request, name string) (int, error) {
	v := strings.TrimSpace(r.PostForm.Get(name))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fault.Field(name, "%s must be a whole number", name)
	}
	return n, nil
}

// formList splits a field of names or prefixes written with commas,
// spaces or one a line.
func formList(r *http.Request, name string) []string {
	return strings.FieldsFunc(r.PostForm.Get(name), func(c rune) bool { return c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t' })
}

func formASN(r *http.Request, name string) (network.ASN, error) {
	v := strings.TrimSpace(r.PostForm.Get(name))
	if v == "" {
		return 0, fault.Field(name, "%s is required", name)
	}
	a, err := network.ParseASN(v)
	if err != nil || a == 0 {
		return 0, fault.Field(name, "%s must be %s", name, network.ASN(0).JSONForm())
	}
	return network.ASN(a), nil
}

// editConnection sets the port's connection from the form: the BGP peer
// and, by the port's kind, the layer-2 guards (on-premises) or the VLAN,
// the two links and the route policy (cloud). An MD5 password shown as the
// mask keeps the stored one; an empty one removes it. A public cloud port
// added to the configuration also takes its firewall mode and first NAPT
// grade from this form.
func editConnection(r *http.Request, pc *network.PortConfig) error {
	ints := map[string]int{}
	for _, name := range []string{"prefix_length", "storm_control_pps", "flap_limit", "flap_window_seconds", "mac_limit",
		"mac_ageing_seconds", "mtu", "vlan", "primary_prefix_length", "secondary_prefix_length"} {
		n, err := formInt(r, name)
		if err != nil {
			return err
		}
		ints[name] = n
	}
	asn, err := formASN(r, "peer_asn")
	if err != nil {
		return err
	}
	// A public cloud port is valid only with a firewall and a NAPT grade:
	// the form that adds one to the configuration asks for both.
	if mode := r.PostForm.Get("mode"); mode != "" && pc.Firewall == nil {
		pc.Firewall = &network.Firewall{Mode: mode, Rules: []network.Rule{}}
	}
	if sessions, err := formInt(r, "sessions"); err != nil {
		return err
	} else if sessions != 0 && len(pc.NAPT) == 0 {
		pc.NAPT = []network.NAPTGrade{{Sessions: sessions}}
	}
	md5, bfd := r.PostForm.Get("md5"), r.PostForm.Get("bfd") == "on"
	if r.PostForm.Get("kind") == "cloud" {
		pc.OnPrem = nil
		pc.Cloud = &network.CloudConnection{VLAN: ints["vlan"], PeerASN: asn, MD5: md5, BFD: bfd,
			Primary: network.Link{HubAddress: strings.TrimSpace(r.PostForm.Get("primary_hub_address")),
				PeerAddress: strings.TrimSpace(r.PostForm.Get("primary_peer_address")), PrefixLength: ints["primary_prefix_length"]},
			Secondary: network.Link{HubAddress: strings.TrimSpace(r.PostForm.Get("secondary_hub_address")),
				PeerAddress: strings.TrimSpace(r.PostForm.Get("secondary_peer_address")), PrefixLength: ints["secondary_prefix_length"]},
			RoutePolicy: network.RoutePolicy{Type: r.PostForm.Get("type"), Prefixes: formList(r, "prefixes")}}
		return nil
	}
	bpdu := r.PostForm.Get("bpdu_guard") == "on"
	pc.Cloud = nil
	pc.OnPrem = &network.OnPremConnection{HubAddress: strings.TrimSpace(r.PostForm.Get("hub_address")),
		CustomerAddress: strings.TrimSpace(r.PostForm.Get("customer_address")), PrefixLength: ints["prefix_length"],
		PeerASN: asn, MD5: md5, BFD: bfd,
		L2Guard: network.L2Guard{BPDUGuard: &bpdu, StormControlPPS: network.Tunable(ints["storm_control_pps"]),
			FlapLimit: network.Tunable(ints["flap_limit"]), FlapWindowSeconds: network.Tunable(ints["flap_window_seconds"]),
			MACLimit: network.Tunable(ints["mac_limit"]), MACAgeingSeconds: network.Tunable(ints["mac_ageing_seconds"]),
			MTU: network.Tunable(ints["mtu"])}}
	return nil
}

// editFirewallMode sets the policy's mode; "none" removes the policy
// (refused on a public cloud port, where it is mandatory).
func editFirewallMode(r *http.Request, pc *network.PortConfig) error {
	mode := r.PostForm.Get("mode")
	if mode == "none" {
		pc.Firewall = nil
		return nil
	}
	if pc.Firewall == nil {
		pc.Firewall = &network.Firewall{Rules: []network.Rule{}}
	}
	pc.Firewall.Mode = mode
	return nil
}

func ruleFromForm(r *http.Request) network.Rule {
	return network.Rule{Action: r.PostForm.Get("action"), Sources: formList(r, "sources"), Destinations: formList(r, "destinations"),
		Services: formList(r, "services"), Applications: formList(r, "applications"), Log: r.PostForm.Get("log") == "on",
		Comment: strings.TrimSpace(r.PostForm.Get("comment"))}
}

// editAddRule adds a rule at the end of the policy (before the implicit
// final deny); a port without a policy gets a stateful one.
func editAddRule(r *http.Request, pc *network.PortConfig) error {
	if pc.Firewall == nil {
		pc.Firewall = &network.Firewall{Mode: "stateful"}
	}
	pc.Firewall.Rules = append(pc.Firewall.Rules, ruleFromForm(r))
	return nil
}

// ruleIndex is the {rule} of the path, a position in the port's policy.
func ruleIndex(r *http.Request, pc *network.PortConfig) (int, error) {
	i, err := strconv.Atoi(r.PathValue("rule"))
	if err != nil || pc.Firewall == nil || i < 0 || i >= len(pc.Firewall.Rules) {
		return 0, fault.New(fault.NotFound, "no such firewall rule")
	}
	return i, nil
}

func editRule(r *http.Request, pc *network.PortConfig) error {
	i, err := ruleIndex(r, pc)
	if err != nil {
		return err
	}
	pc.Firewall.Rules[i] = ruleFromForm(r)
	return nil
}

func editDeleteRule(r *http.Request, pc *network.PortConfig) error {
	i, err := ruleIndex(r, pc)
	if err != nil {
		return err
	}
	pc.Firewall.Rules = slices.Delete(pc.Firewall.Rules, i, i+1)
	return nil
}

// editMoveRule moves a rule one place up or down: rules match in order.
func editMoveRule(r *http.Request, pc *network.PortConfig) error {
	i, err := ruleIndex(r, pc)
	if err != nil {
		return err
	}
	j := i - 1
	if r.PostForm.Get("direction") == "down" {
		j = i + 1
	}
	if j < 0 || j >= len(pc.Firewall.Rules) {
		return nil
	}
	rs := pc.Firewall.Rules
	rs[i], rs[j] = rs[j], rs[i]
	return nil
}

// editNAPT sets the port's grades from the form's slots (an empty slot is
// no grade).
func editNAPT(r *http.Request, pc *network.PortConfig) error {
	pc.NAPT = nil
	for _, v := range r.PostForm["sessions"] {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return fault.Field("sessions", "a NAPT grade is a number of sessions")
		}
		pc.NAPT = append(pc.NAPT, network.NAPTGrade{Sessions: n})
	}
	return nil
}

func editStaticNAT(r *http.Request, pc *network.PortConfig) error {
	pc.StaticNAT = nil
	for _, a := range formList(r, "inside") {
		pc.StaticNAT = append(pc.StaticNAT, network.StaticNAT{Inside: a})
	}
	return nil
}

// netPortAction runs an action of the port page other than a port save
// and returns to to with flash; a refusal shows the port page.
func (s *Server) netPortAction(form string, do func(*http.Request, *network.Workflow, string) error, to, flash string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		n, pg, err := s.netPortPost(w, r)
		if err != nil {
			return err
		}
		if err := do(r, n, pg.Port.PortCode); err != nil {
			r.PostForm.Set("form", form)
			return s.renderRefused(w, r, "net-port", pg, portFormFault(err, []string{"speed_mbps", "effective_date"}))
		}
		return redirect(w, r, strings.ReplaceAll(to, "{code}", pg.Port.PortCode), flash)
	}
}

func (s *Server) netPortSpeedPage(w http.ResponseWriter, r *http.Request) error {
	return s.netPortAction("speed", func(r *http.Request, n *network.Workflow, code string) error {
		mbps, err := strconv.ParseInt(r.PostForm.Get("speed_mbps"), 10, 64)
		if err != nil {
			return fault.Field("speed_mbps", "speed_mbps must be one of the port's speeds")
		}
		_, err = n.SetPortSpeed(r.Context(), principal(r).Scope(), code,
			network.BandwidthInput{SpeedMbps: mbps, EffectiveDate: strings.TrimSpace(r.PostForm.Get("effective_date"))})
		return err
	}, "/network/draft/ports/{code}#speed", "net.flash_saved")(w, r)
}

func (s *Server) netPortSpeedRemovePage(w http.ResponseWriter, r *http.Request) error {
	return s.netPortAction("speed", func(r *http.Request, n *network.Workflow, code string) error {
		_, err := n.RemovePortSpeed(r.Context(), principal(r).Scope(), code)
		return err
	}, "/network/draft/ports/{code}#speed", "net.flash_saved")(w, r)
}

func (s *Server) netPortRemovePage(w http.ResponseWriter, r *http.Request) error {
	return s.netPortAction("remove", func(r *http.Request, n *network.Workflow, code string) error {
		_, err := n.RemovePort(r.Context(), principal(r).Scope(), code)
		return err
	}, "/network", "net.flash_port_removed")(w, r)
}
