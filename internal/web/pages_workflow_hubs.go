package web

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
)

// The hub settings page: the hub AS number and each hub's internal and
// monitoring networks (always advertised to every port). Each form changes
// its part of the draft's configuration and saves the whole of it as
// PUT /api/v1/network/draft does.

func (s *Server) workflowHubPages() []pageRoute {
	save := []string{"PUT /api/v1/network/draft"}
	return []pageRoute{
		{"GET", "/network/draft/hubs", identity.ActNetworkRead, []string{"GET /api/v1/network/draft"}, s.netHubsPage},
		{"POST", "/network/draft/asn", identity.ActNetworkEdit, save, s.netASNSave},
		{"POST", "/network/draft/hubs/{hub}", identity.ActNetworkEdit, save, s.netHubSave},
	}
}

type netHubs struct {
	netEditState
	HasDraft bool
	ASN      network.ASN
	Hubs     []network.HubConfig
}

func (s *Server) netHubsData(r *http.Request) (netHubs, network.Config, error) {
	var h netHubs
	o, cfg, err := s.netObjectsData(r)
	if err != nil {
		return h, cfg, err
	}
	h.netEditState, h.HasDraft, h.ASN, h.Hubs = o.netEditState, o.HasDraft, cfg.ASN, cfg.Hubs
	return h, cfg, nil
}

func (s *Server) netHubsPage(w http.ResponseWriter, r *http.Request) error {
	h, _, err := s.netHubsData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "net-hubs", h)
}

// netHubsEdit changes the draft's configuration with edit and saves it; a
// refusal in the form's own part (under, e.g. "hubs[1].") is shown next
// to its field, any other above the forms.
func (s *Server) netHubsEdit(w http.ResponseWriter, r *http.Request, form string,
	edit func(*network.Config) (under string, err error)) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	n, err := s.network()
	if err != nil {
		return err
	}
	page, cfg, err := s.netHubsData(r)
	if err != nil {
		return err
	}
	cfg.Hubs = slices.Clone(cfg.Hubs)
	under, err := edit(&cfg)
	if err == nil {
		_, err = n.SaveDraft(r.Context(), principal(r).Scope(), cfg)
	}
	if err != nil {
		r.PostForm.Set("form", form)
		if f, ok := fault.As(err); ok && f.Field != "" {
			g := *f
			if g.Field != under && !strings.HasPrefix(g.Field, under+".") {
				g.Message, g.Field = f.Field+": "+f.Message, ""
			}
			err = &g
		}
		return s.renderRefused(w, r, "net-hubs", page, err)
	}
	return redirect(w, r, "/network/draft/hubs", "net.flash_saved")
}

func (s *Server) netASNSave(w http.ResponseWriter, r *http.Request) error {
	return s.netHubsEdit(w, r, "asn", func(c *network.Config) (string, error) {
		asn, err := formASN(r, "asn")
		c.ASN = asn
		return "asn", err
	})
}

func (s *Server) netHubSave(w http.ResponseWriter, r *http.Request) error {
	hub := r.PathValue("hub")
	return s.netHubsEdit(w, r, "hub-"+hub, func(c *network.Config) (string, error) {
		i := slices.IndexFunc(c.Hubs, func(h network.HubConfig) bool { return string(h.HubID) == hub })
		if i < 0 {
			return "", fault.New(fault.NotFound, "hub not found")
		}
		c.Hubs[i].InternalNetwork = strings.TrimSpace(r.PostForm.Get("internal_network"))
		c.Hubs[i].MonitoringNetwork = strings.TrimSpace(r.PostForm.Get("monitoring_network"))
		return fmt.Sprintf("hubs[%d]", i), nil
	})
}
