package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
)

// The firewall objects page: the customer's address, service and
// application objects, shared by every port's rules. Each form changes one
// object of the draft's configuration and saves the whole configuration as
// PUT /api/v1/network/draft does; removing an object a rule still names is
// refused by the workflow's validation, shown above the forms.

func (s *Server) workflowObjectPages() []pageRoute {
	save := []string{"PUT /api/v1/network/draft"}
	return []pageRoute{
		{"GET", "/network/draft/objects", identity.ActNetworkRead, []string{"GET /api/v1/network/draft"}, s.netObjectsPage},
		{"POST", "/network/draft/objects/{kind}", identity.ActNetworkEdit, save, s.netObjectSave},
		{"POST", "/network/draft/objects/{kind}/delete", identity.ActNetworkEdit, save, s.netObjectDelete},
	}
}

type netObjects struct {
	netEditState
	HasDraft bool
	Objects  network.Objects
	Opt      netOptions
}

func (s *Server) netObjectsData(r *http.Request) (netObjects, network.Config, error) {
	var o netObjects
	n, err := s.network()
	if err != nil {
		return o, network.Config{}, err
	}
	if o.netEditState, err = s.netEditState(r, n); err != nil {
		return o, network.Config{}, err
	}
	d, err := netDraftOrNil(r, n)
	if err != nil {
		return o, network.Config{}, err
	}
	var cfg network.Config
	if d != nil {
		cfg, o.HasDraft = d.Config, true
	} else {
		v, err := n.Applied(r.Context(), principal(r).Scope())
		if err != nil {
			return o, network.Config{}, err
		}
		cfg = v.Config
	}
	o.Objects, o.Opt = cfg.Objects, netOpts
	return o, cfg, nil
}

func (s *Server) netObjectsPage(w http.ResponseWriter, r *http.Request) error {
	o, _, err := s.netObjectsData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "net-objects", o)
}

// netObjectKinds are the {kind}s of the object forms with their fields.
var netObjectKinds = map[string][]string{
	"addresses":    {"name", "prefixes"},
	"services":     {"name", "protocol", "ports"},
	"applications": {"name", "services"},
}

// netObjectEdit changes the draft's objects with edit and saves the draft;
// form names the form that was sent, for a refusal's field.
func (s *Server) netObjectEdit(w http.ResponseWriter, r *http.Request, edit func(kind string, o *network.Objects) error) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	kind := r.PathValue("kind")
	fields, ok := netObjectKinds[kind]
	if !ok {
		return fault.New(fault.NotFound, "no such kind of object")
	}
	n, err := s.network()
	if err != nil {
		return err
	}
	page, cfg, err := s.netObjectsData(r)
	if err != nil {
		return err
	}
	form := kind + "-new"
	if orig := r.PostForm.Get("original"); orig != "" {
		form = kind + "-" + orig
	}
	// The page's data keeps the objects as the draft holds them; the edit
	// works on copies of the lists.
	objs := network.Objects{Addresses: slices.Clone(cfg.Objects.Addresses), Services: slices.Clone(cfg.Objects.Services),
		Applications: slices.Clone(cfg.Objects.Applications)}
	if err = edit(kind, &objs); err == nil {
		cfg.Objects = objs
		_, err = n.SaveDraft(r.Context(), principal(r).Scope(), cfg)
	}
	if err != nil {
		r.PostForm.Set("form", form)
		return s.renderRefused(w, r, "net-objects", page, objectFormFault(err, kind, fields))
	}
	return redirect(w, r, "/network/draft/objects#"+kind, "net.flash_saved")
}

// objectFormFault shows a problem of the object lists next to the form's
// field, and any other (a rule naming a removed object) above the forms.
func objectFormFault(err error, kind string, fields []string) error {
	f, ok := fault.As(err)
	if !ok || f.Field == "" {
		return err
	}
	g := *f
	g.Field = ""
	if name := formField(f.Field); strings.HasPrefix(f.Field, "objects."+kind) && slices.Contains(fields, name) {
		g.Field = name
	} else {
		g.Message = f.Field + ": " + f.Message
	}
	return &g
}

// netObjectSave adds an object, or replaces the one named by the form's
// "original" (its name before the edit).
func (s *Server) netObjectSave(w http.ResponseWriter, r *http.Request) error {
	return s.netObjectEdit(w, r, func(kind string, o *network.Objects) error {
		orig, name := r.PostForm.Get("original"), strings.TrimSpace(r.PostForm.Get("name"))
		switch kind {
		case "addresses":
			return putObject(&o.Addresses, orig, network.AddressObject{Name: name, Prefixes: formList(r, "prefixes")},
				func(x network.AddressObject) string { return x.Name })
		case "services":
			return putObject(&o.Services, orig, network.ServiceObject{Name: name, Protocol: r.PostForm.Get("protocol"),
				Ports: strings.TrimSpace(r.PostForm.Get("ports"))}, func(x network.ServiceObject) string { return x.Name })
		default:
			return putObject(&o.Applications, orig, network.ApplicationObject{Name: name, Services: formList(r, "services")},
				func(x network.ApplicationObject) string { return x.Name })
		}
	})
}

func (s *Server) netObjectDelete(w http.ResponseWriter, r *http.Request) error {
	return s.netObjectEdit(w, r, func(kind string, o *network.Objects) error {
		orig := r.PostForm.Get("original")
		switch kind {
		case "addresses":
			return dropObject(&o.Addresses, orig, func(x network.AddressObject) string { return x.Name })
		case "services":
			return dropObject(&o.Services, orig, func(x network.ServiceObject) string { return x.Name })
		default:
			return dropObject(&o.Applications, orig, func(x network.ApplicationObject) string { return x.Name })
		}
	})
}

// putObject replaces the object named orig in list, or adds x when orig
// is empty.
func putObject[T any](list *[]T, orig string, x T, name func(T) string) error {
	if orig == "" {
		*list = append(*list, x)
		return nil
	}
	i := slices.IndexFunc(*list, func(y T) bool { return name(y) == orig })
	if i < 0 {
		return fault.New(fault.NotFound, "no object %s", orig)
	}
	(*list)[i] = x
	return nil
}

func dropObject[T any](list *[]T, orig string, name func(T) string) error {
	i := slices.IndexFunc(*list, func(y T) bool { return name(y) == orig })
	if i < 0 {
		return fault.New(fault.NotFound, "no object %s", orig)
	}
	*list = slices.Delete(*list, i, i+1)
	return nil
}
