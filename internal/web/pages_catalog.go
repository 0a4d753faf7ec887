package web

import (
	"cmp"
	"context"
	"net/http"
	"slices"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/notice"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/web/panel"
)

// catalogPages are the panel's pages for the customer's start page, contracts
// with their service codes and options, hubs with their topology, the port
// list and a port's page (pages_catalog_port.go).
func (s *Server) catalogPages() []pageRoute {
	return []pageRoute{
		{"GET", "/{$}", identity.ActCatalogRead, []string{"GET /api/v1/customer"}, s.catHome},
		{"GET", "/contracts", identity.ActCatalogRead, []string{"GET /api/v1/contracts"}, s.catContracts},
		{"GET", "/contracts/{code}", identity.ActCatalogRead, []string{"GET /api/v1/contracts/{code}"}, s.catContract},
		{"GET", "/hubs", identity.ActCatalogRead, []string{"GET /api/v1/hubs", "GET /api/v1/regions"}, s.catHubs},
		{"GET", "/hubs/{id}", identity.ActCatalogRead, []string{"GET /api/v1/hubs/{id}", "GET /api/v1/hubs/{id}/dataplane"}, s.catHub},
		// The hub page's live part, refreshed by htmx every 15 s.
		{"GET", "/hubs/{id}/live", identity.ActNetworkRead, nil, s.catHubLive},
		{"GET", "/ports", identity.ActCatalogRead, []string{"GET /api/v1/ports"}, s.catPorts},
		{"GET", "/ports/{code}", identity.ActCatalogRead, []string{"GET /api/v1/ports/{code}", "GET /api/v1/ports/{code}/bgp",
			"GET /api/v1/ports/{code}/l2-guard", "GET /api/v1/ports/{code}/bandwidth-changes"}, s.catPort},
		{"POST", "/ports/{code}/bgp/reenable", identity.ActNetworkEdit, []string{"POST /api/v1/ports/{code}/bgp/reenable"}, s.catReenableBGP},
		{"POST", "/ports/{code}/l2-guard/reenable", identity.ActNetworkEdit, []string{"POST /api/v1/ports/{code}/l2-guard/reenable"}, s.catReenableL2},
	}
}

// everything reads every page of a catalog list: the pages show the whole
// of a customer's contracts, hubs and ports (hundreds at most).
func everything[T any](fetch func(catalog.Page) ([]T, string, error)) ([]T, error) {
	var out []T
	p := catalog.Page{Limit: catalog.MaxPage}
	for {
		items, next, err := fetch(p)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if next == "" {
			return out, nil
		}
		p.After = next
	}
}

// catalogView is the customer's catalog as the pages read it: its hubs in
// DR order, its ports by code, the regions' names in the viewer's language.
type catalogView struct {
	Hubs    []catalog.Hub
	Ports   []catalog.Port
	regions map[string]catalog.Region
	lang    string
}

func (s *Server) readCatalog(ctx context.Context, sc tenant.Scope, lang string) (catalogView, error) {
	cv, err := s.readRegions(ctx, lang)
	if err != nil {
		return cv, err
	}
	hubs, err := everything(func(p catalog.Page) ([]catalog.Hub, string, error) { return s.deps.Catalog.ListHubs(ctx, sc, p) })
	if err != nil {
		return cv, err
	}
	slices.SortFunc(hubs, func(a, b catalog.Hub) int {
		return cmp.Or(cmp.Compare(priorityRank(a.Priority), priorityRank(b.Priority)), cmp.Compare(a.ID, b.ID))
	})
	cv.Hubs = hubs
	cv.Ports, err = everything(func(p catalog.Page) ([]catalog.Port, string, error) {
		return s.deps.Catalog.ListPorts(ctx, sc, "", p)
	})
	return cv, err
}

// readRegions is a catalogView with the regions only, for their names.
func (s *Server) readRegions(ctx context.Context, lang string) (catalogView, error) {
	cv := catalogView{regions: map[string]catalog.Region{}, lang: lang}
	regions, err := everything(func(p catalog.Page) ([]catalog.Region, string, error) { return s.deps.Catalog.ListRegions(ctx, p) })
	if err != nil {
		return cv, err
	}
	for _, r := range regions {
		cv.regions[r.Code] = r
	}
	return cv, nil
}

func priorityRank(p string) int {
	if i := slices.Index(catalog.Priorities, p); i >= 0 {
		return i
	}
	return len(catalog.Priorities)
}

// RegionName is the region's name in the viewer's language, its code when
// the region is not listed.
func (cv catalogView) RegionName(code string) string {
	r, ok := cv.regions[code]
	switch {
	case !ok:
		return code
	case cv.lang == "ja" && r.NameJA != "":
		return r.NameJA
	case r.NameEN != "":
		return r.NameEN
	}
	return code
}

func (cv catalogView) hubIDs() []catalog.HubID {
	ids := make([]catalog.HubID, len(cv.Hubs))
	for i, h := range cv.Hubs {
		ids[i] = h.ID
	}
	return ids
}

func (cv catalogView) hub(id catalog.HubID) (catalog.Hub, bool) {
	i := slices.IndexFunc(cv.Hubs, func(h catalog.Hub) bool { return h.ID == id })
	if i < 0 {
		return catalog.Hub{}, false
	}
	return cv.Hubs[i], true
}

// portRow is a port in a list, with its hub and its live state. Its fields
// are its own, not an embedded catalog.Port: the template engine finds a
// promoted field by a slow search, and the port list has hundreds of rows.
type portRow struct {
	PortCode    string
	Kind        string
	Redundant   bool
	Speed       string // as contracts name speeds: 1G, 500M
	Status      string
	HubRegion   string
	HubPriority string
	Live        panel.LiveState
	Holds       []string // hold kinds
}

func (cv catalogView) portRows(ports []catalog.Port, lv liveView) []portRow {
	out := make([]portRow, 0, len(ports))
	for _, p := range ports {
		lp := lv.ports[p.PortCode]
		row := portRow{PortCode: p.PortCode, Kind: p.Kind, Redundant: p.Redundant, Speed: panel.FormatBPS(p.SpeedMbps * 1e6),
			Status: p.Status, Live: lp.state(), Holds: lp.holdKinds()}
		if h, ok := cv.hub(p.HubID); ok {
			row.HubRegion, row.HubPriority = cv.RegionName(h.Region), h.Priority
		}
		out = append(out, row)
	}
	return out
}

// catHome is the start page: the current notices, the contracts, the
// topology of the hubs and the ports with their live state.
func (s *Server) catHome(w http.ResponseWriter, r *http.Request) error {
	ctx, sc := r.Context(), principal(r).Scope()
	cu, err := s.deps.Catalog.OwnCustomer(ctx, sc)
	if err != nil {
		return err
	}
	cv, err := s.readCatalog(ctx, sc, s.language(r))
	if err != nil {
		return err
	}
	contracts, err := everything(func(p catalog.Page) ([]catalog.Contract, string, error) {
		return s.deps.Catalog.ListContracts(ctx, sc, p)
	})
	if err != nil {
		return err
	}
	lv, err := s.readLive(ctx, sc, cv.hubIDs())
	if err != nil {
		return err
	}
	notices, err := s.homeNotices(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "cat-home", struct {
		Customer  catalog.Customer
		Contracts []catalog.Contract
		Topology  panel.Topology
		Ports     []portRow
		Lifecycle *lifecycleView
		Notices   []notice.CustomerNotice // the current ones, for the banner
	}{cu, contracts, lv.topology(cv.Hubs, cv.Ports, cv.RegionName), cv.portRows(cv.Ports, lv), lifecycleOf(cu, contracts), notices})
}

func (s *Server) catContracts(w http.ResponseWriter, r *http.Request) error {
	ctx, sc := r.Context(), principal(r).Scope()
	contracts, err := everything(func(p catalog.Page) ([]catalog.Contract, string, error) {
		return s.deps.Catalog.ListContracts(ctx, sc, p)
	})
	if err != nil {
		return err
	}
	cv, err := s.readCatalog(ctx, sc, s.language(r))
	if err != nil {
		return err
	}
	type row struct {
		catalog.Contract
		Hubs, Ports int
	}
	rows := make([]row, len(contracts))
	for i, k := range contracts {
		rows[i].Contract = k
		for _, h := range cv.Hubs {
			if h.ServiceCode == k.ServiceCode {
				rows[i].Hubs++
			}
		}
		for _, p := range cv.Ports {
			if p.ServiceCode == k.ServiceCode {
				rows[i].Ports++
			}
		}
	}
	return s.render(w, r, "cat-contracts", struct{ Contracts []row }{rows})
}

func (s *Server) catContract(w http.ResponseWriter, r *http.Request) error {
	ctx, sc := r.Context(), principal(r).Scope()
	k, err := s.deps.Catalog.GetContract(ctx, sc, r.PathValue("code"))
	if err != nil {
		return err
	}
	cu, err := s.deps.Catalog.OwnCustomer(ctx, sc)
	if err != nil {
		return err
	}
	cv, err := s.readCatalog(ctx, sc, s.language(r))
	if err != nil {
		return err
	}
	var hubs []hubRow
	for _, h := range cv.hubRows(nil) {
		if h.ServiceCode == k.ServiceCode {
			hubs = append(hubs, h)
		}
	}
	var ports []catalog.Port
	for _, p := range cv.Ports {
		if p.ServiceCode == k.ServiceCode {
			ports = append(ports, p)
		}
	}
	lv, err := s.readLive(ctx, sc, cv.hubIDs())
	if err != nil {
		return err
	}
	return s.render(w, r, "cat-contract", struct {
		Contract  catalog.Contract
		Hubs      []hubRow
		Ports     []portRow
		Lifecycle *lifecycleView
	}{k, hubs, cv.portRows(ports, lv), lifecycleOf(cu, []catalog.Contract{k})})
}

// hubRow is a hub with its region and its own networks.
type hubRow struct {
	catalog.Hub
	Region catalog.Region
	// RegionName is in the viewer's language.
	RegionName string
	Networks   network.HubConfig
	Ports      int
}

// hubNetworks reads the hubs' internal and monitoring networks from the
// applied configuration (the defaults before the first version); a viewer
// who may not read the network sees none.
func (s *Server) hubNetworks(ctx context.Context, sc tenant.Scope) (map[catalog.HubID]network.HubConfig, error) {
	out := map[catalog.HubID]network.HubConfig{}
	if s.deps.Workflow == nil || !sc.Can(identity.ActNetworkRead) {
		return out, nil
	}
	v, err := s.deps.Workflow.Applied(ctx, sc)
	if err != nil {
		return nil, err
	}
	for _, h := range v.Config.Hubs {
		out[h.HubID] = h
	}
	return out, nil
}

func (cv catalogView) hubRows(nets map[catalog.HubID]network.HubConfig) []hubRow {
	out := make([]hubRow, len(cv.Hubs))
	for i, h := range cv.Hubs {
		out[i] = hubRow{Hub: h, Region: cv.regions[h.Region], RegionName: cv.RegionName(h.Region), Networks: nets[h.ID]}
		for _, p := range cv.Ports {
			if p.HubID == h.ID {
				out[i].Ports++
			}
		}
	}
	return out
}

// catHubs lists the hubs per region with their DR priority, data location
// and networks, under the topology picture.
func (s *Server) catHubs(w http.ResponseWriter, r *http.Request) error {
	ctx, sc := r.Context(), principal(r).Scope()
	cv, err := s.readCatalog(ctx, sc, s.language(r))
	if err != nil {
		return err
	}
	nets, err := s.hubNetworks(ctx, sc)
	if err != nil {
		return err
	}
	lv, err := s.readLive(ctx, sc, cv.hubIDs())
	if err != nil {
		return err
	}
	return s.render(w, r, "cat-hubs", struct {
		Hubs     []hubRow
		Topology panel.Topology
	}{cv.hubRows(nets), lv.topology(cv.Hubs, cv.Ports, cv.RegionName)})
}

// hubLive is the hub page's live part: the dataplane view and the state of
// the hub's ports.
type hubLive struct {
	HubID     catalog.HubID
	Dataplane hubDataplane
	Backbone  []sessionRow
	Ports     []portRow
}

func (s *Server) readHubLive(ctx context.Context, sc tenant.Scope, cv catalogView, hub catalog.HubID) (hubLive, error) {
	out := hubLive{HubID: hub}
	var err error
	if out.Dataplane, err = s.hubDataplane(ctx, sc, hub); err != nil {
		return out, err
	}
	out.Backbone = sessionRows(out.Dataplane.Backbone)
	lv, err := s.readLive(ctx, sc, []catalog.HubID{hub})
	if err != nil {
		return out, err
	}
	var ports []catalog.Port
	for _, p := range cv.Ports {
		if p.HubID == hub {
			ports = append(ports, p)
		}
	}
	out.Ports = cv.portRows(ports, lv)
	return out, nil
}

// catHubRead reads the hub of the path's {id} (another customer's answers
// 404) and the catalogue its page is drawn from.
func (s *Server) catHubRead(r *http.Request) (catalog.Hub, catalogView, error) {
	ctx, sc := r.Context(), principal(r).Scope()
	h, err := s.deps.Catalog.GetHub(ctx, sc, catalog.HubID(r.PathValue("id")))
	if err != nil {
		return h, catalogView{}, err
	}
	cv, err := s.readCatalog(ctx, sc, s.language(r))
	return h, cv, err
}

func (s *Server) catHub(w http.ResponseWriter, r *http.Request) error {
	ctx, sc := r.Context(), principal(r).Scope()
	h, cv, err := s.catHubRead(r)
	if err != nil {
		return err
	}
	nets, err := s.hubNetworks(ctx, sc)
	if err != nil {
		return err
	}
	var row hubRow
	for _, hr := range cv.hubRows(nets) {
		if hr.ID == h.ID {
			row = hr
		}
	}
	data := struct {
		Hub  hubRow
		Live *hubLive // nil for a viewer who may not read the network
	}{Hub: row}
	if sc.Can(identity.ActNetworkRead) {
		live, err := s.readHubLive(ctx, sc, cv, h.ID)
		if err != nil {
			return err
		}
		data.Live = &live
	}
	return s.render(w, r, "cat-hub", data)
}

// catHubLive answers the hub page's periodic htmx refresh with its live
// part only.
func (s *Server) catHubLive(w http.ResponseWriter, r *http.Request) error {
	h, cv, err := s.catHubRead(r)
	if err != nil {
		return err
	}
	live, err := s.readHubLive(r.Context(), principal(r).Scope(), cv, h.ID)
	if err != nil {
		return err
	}
	return s.fragment(w, r, "cat-hub", "cat-hub-live", struct{ Live *hubLive }{&live})
}

// catPorts lists every port with its hub, speed, contract status, live
// state and holds.
func (s *Server) catPorts(w http.ResponseWriter, r *http.Request) error {
	ctx, sc := r.Context(), principal(r).Scope()
	cv, err := s.readCatalog(ctx, sc, s.language(r))
	if err != nil {
		return err
	}
	lv, err := s.readLive(ctx, sc, cv.hubIDs())
	if err != nil {
		return err
	}
	return s.render(w, r, "cat-ports", struct{ Ports []portRow }{cv.portRows(cv.Ports, lv)})
}
