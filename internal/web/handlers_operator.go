package web

import (
	"net/http"
	"strconv"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Management-listener handlers. The customer in the path is the object the
// operator acts on; operator staff have no customer scope of their own.

// pathCustomer is the operator's handle on the customer in the path
// ({customer}), built by identity from the authenticated staff principal; an
// unknown customer is 404. It is never a customer scope: it reaches the
// customer's commercial records and placement, not its saved data.
func (s *Server) pathCustomer(r *http.Request) (tenant.Operator, error) {
	op, err := principal(r).Manage(catalog.CustomerID(r.PathValue("customer")))
	if err != nil {
		return tenant.Operator{}, err
	}
	if _, err := s.deps.Catalog.GetCustomer(r.Context(), op); err != nil {
		return tenant.Operator{}, err
	}
	return op, nil
}

// holder adapts a handler shared by both listeners to withCustomer.
func holder(h func(http.ResponseWriter, *http.Request, tenant.Holder) error) func(http.ResponseWriter, *http.Request, tenant.Operator) error {
	return func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error { return h(w, r, op) }
}

// withCustomer adapts a per-customer handler to the operator's routes.
func (s *Server) withCustomer(h func(http.ResponseWriter, *http.Request, tenant.Operator) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		op, err := s.pathCustomer(r)
		if err != nil {
			return err
		}
		return h(w, r, op)
	}
}

func (s *Server) createRegion(w http.ResponseWriter, r *http.Request) error {
	return created(w, r, func(in catalog.RegionInput) (catalog.Region, error) {
		return s.deps.Catalog.CreateRegion(r.Context(), in)
	})
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) error {
	return listed(w, r, func(p catalog.Page) ([]catalog.Node, string, error) { return s.deps.Catalog.ListNodes(r.Context(), p) })
}

func (s *Server) createNode(w http.ResponseWriter, r *http.Request) error {
	return created(w, r, func(in catalog.NodeInput) (catalog.Node, error) { return s.deps.Catalog.CreateNode(r.Context(), in) })
}

func (s *Server) addPhysicalPort(w http.ResponseWriter, r *http.Request) error {
	return created(w, r, func(in catalog.PhysicalPort) (catalog.PhysicalPort, error) {
		return s.deps.Catalog.AddPhysicalPort(r.Context(), r.PathValue("node"), in)
	})
}

func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request) error {
	return listed(w, r, func(p catalog.Page) ([]catalog.Customer, string, error) {
		return s.deps.Catalog.ListCustomers(r.Context(), p)
	})
}

func (s *Server) createCustomer(w http.ResponseWriter, r *http.Request) error {
	return created(w, r, func(in catalog.CustomerInput) (catalog.Customer, error) {
		return s.deps.Catalog.CreateCustomer(r.Context(), in)
	})
}

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request) error {
	op, err := principal(r).Manage(catalog.CustomerID(r.PathValue("customer")))
	if err != nil {
		return err
	}
	c, err := s.deps.Catalog.GetCustomer(r.Context(), op)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) opContracts(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(holder(s.contracts))(w, r)
}

func (s *Server) opContract(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(holder(s.contract))(w, r)
}

func (s *Server) createContract(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		return created(w, r, func(in catalog.ContractInput) (catalog.Contract, error) {
			return s.deps.Catalog.CreateContract(r.Context(), op, in)
		})
	})(w, r)
}

func (s *Server) setOption(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		var in catalog.OptionInput
		if err := decode(w, r, &in); err != nil {
			return err
		}
		k, err := s.deps.Catalog.SetOption(r.Context(), op, r.PathValue("code"), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, k)
		return nil
	})(w, r)
}

func (s *Server) cancelContract(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		var in catalog.CancelInput
		if err := decode(w, r, &in); err != nil {
			return err
		}
		k, err := s.deps.Catalog.CancelContract(r.Context(), op, r.PathValue("code"), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, k)
		return nil
	})(w, r)
}

func (s *Server) opHubs(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(holder(s.hubs))(w, r)
}

func (s *Server) createHub(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		return created(w, r, func(in catalog.HubInput) (catalog.Hub, error) { return s.deps.Catalog.CreateHub(r.Context(), op, in) })
	})(w, r)
}

func (s *Server) opPorts(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(holder(s.ports))(w, r)
}

func (s *Server) createPort(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		return created(w, r, func(in catalog.PortInput) (catalog.Port, error) {
			return s.deps.Catalog.CreatePort(r.Context(), op, in)
		})
	})(w, r)
}

func (s *Server) opAccounts(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(holder(s.accounts))(w, r)
}

// invitation is an invited staff account. Its setup link is not in the
// answer: like a customer account's, it goes only to the invitee's e-mail,
// so that no staff member can set up an account it invited.
type invitation struct {
	Account identity.Account `json:"account"`
}

// inviteCustomerAccount is an operator inviting a customer's first
// operations administrator (identity/recovery.go): the answer is the account
// alone.
func (s *Server) inviteCustomerAccount(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		var in identity.InviteInput
		if err := s.decodeText(w, r, &in); err != nil {
			return err
		}
		a, err := s.deps.Identity.InviteFirstOpsAdmin(r.Context(), principal(r), op, in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, a)
		return nil
	})(w, r)
}

// listStaff lists every staff account, operators and security officers, for
// either kind of staff manager: who holds staff access is what a security
// officer reviews.
func (s *Server) listStaff(w http.ResponseWriter, r *http.Request) error {
	return listed(w, r, func(p catalog.Page) ([]identity.Account, string, error) {
		return s.deps.Identity.ListStaff(r.Context(), principal(r), p)
	})
}

// inviteStaff invites a staff account; the identity service applies the
// separation of duties (an operator invites operators, and a security
// officer only while none is active; a security officer invites security
// officers only).
func (s *Server) inviteStaff(w http.ResponseWriter, r *http.Request) error {
	return created(w, r, func(in identity.InviteInput) (invitation, error) {
		a, err := s.deps.Identity.InviteStaff(r.Context(), principal(r), in)
		return invitation{Account: a}, err
	})
}

// auditPage answers a page of the audit log selected by q (auditWindow).
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, q audit.Query) error {
	q, err := auditWindow(r, q)
	if err != nil {
		return err
	}
	items, next, err := s.auditEntries(r, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, next))
	return nil
}

// auditWindow reads a page's window into q: ?after= is a sequence number,
// since audit entries are read in chain order, and ?limit= is 1 to
// catalog.MaxPage like every list's (default 100).
func auditWindow(r *http.Request, q audit.Query) (audit.Query, error) {
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return q, fault.Field("after", "after must be a sequence number")
		}
		q.AfterSeq = n
	}
	q.Limit = 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > catalog.MaxPage {
			return q, fault.Field("limit", "limit must be a number from 1 to %d", catalog.MaxPage)
		}
		q.Limit = n
	}
	return q, nil
}

// auditEntries reads the window q and the sequence number the next page
// starts after ("" on the last page).
func (s *Server) auditEntries(r *http.Request, q audit.Query) ([]audit.Entry, string, error) {
	items, err := s.deps.Audit.List(r.Context(), q)
	if err != nil {
		return nil, "", err
	}
	if items == nil {
		items = []audit.Entry{}
	}
	next := ""
	if len(items) == q.Limit {
		next = strconv.FormatInt(items[len(items)-1].Seq, 10)
	}
	return items, next, nil
}
