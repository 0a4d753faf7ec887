package web

import (
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/web/panel"
)

// opcStaffPages are the staff accounts (operators on /staff, security
// officers on /officers) and the recovery decisions. The identity service
// enforces the separation of duties; its refusals are shown on the page.
func (s *Server) opcStaffPages() []pageRoute {
	staff := opcStaffKind{Base: "/staff", Role: identity.RoleOperator,
		Invitable: []identity.Role{identity.RoleOperator, identity.RoleSecurityOfficer}}
	officers := opcStaffKind{Base: "/officers", Role: identity.RoleSecurityOfficer, Invitable: []identity.Role{identity.RoleSecurityOfficer}}
	return []pageRoute{
		{"GET", "/staff", identity.ActStaffManage, []string{"GET /api/v1/staff"}, s.opcStaff(staff)},
		{"POST", "/staff", identity.ActStaffManage, []string{"POST /api/v1/staff"}, s.opcInviteStaff(staff)},
		{"POST", "/staff/{account}/role", identity.ActStaffManage, []string{"PUT /api/v1/staff/{account}/role"}, s.opcStaffAct(staff, s.opcSetRole)},
		{"POST", "/staff/{account}/unlock", identity.ActStaffManage, []string{"POST /api/v1/staff/{account}/unlock"}, s.opcStaffAct(staff, s.opcUnlock)},
		{"POST", "/staff/{account}/delete", identity.ActStaffManage, []string{"DELETE /api/v1/staff/{account}"}, s.opcStaffAct(staff, s.opcDelete)},
		{"GET", "/officers", identity.ActOfficersManage, []string{"GET /api/v1/officers"}, s.opcStaff(officers)},
		{"POST", "/officers", identity.ActOfficersManage, []string{"POST /api/v1/officers"}, s.opcInviteStaff(officers)},
		{"POST", "/officers/{account}/unlock", identity.ActOfficersManage, []string{"POST /api/v1/officers/{account}/unlock"},
			s.opcStaffAct(officers, s.opcUnlock)},
		{"POST", "/officers/{account}/delete", identity.ActOfficersManage, []string{"DELETE /api/v1/officers/{account}"},
			s.opcStaffAct(officers, s.opcDelete)},
		{"GET", "/recoveries", identity.ActRecoveryApprove, []string{"GET /api/v1/recoveries"}, s.opcRecoveries},
		{"POST", "/recoveries/{recovery}/approve", identity.ActRecoveryApprove, []string{"POST /api/v1/recoveries/{recovery}/approve"},
			s.opcDecideRecovery("opc.flash.recovery_approved", func(r *http.Request) error {
				_, err := s.deps.Identity.ApproveRecovery(r.Context(), principal(r), r.PathValue("recovery"))
				return err
			})},
		{"POST", "/recoveries/{recovery}/reject", identity.ActRecoveryApprove, []string{"POST /api/v1/recoveries/{recovery}/reject"},
			s.opcDecideRecovery("opc.flash.recovery_rejected", func(r *http.Request) error {
				_, err := s.deps.Identity.RejectRecovery(r.Context(), principal(r), r.PathValue("recovery"),
					identity.RecoveryDecision{Note: r.PostForm.Get("note")})
				return err
			})},
	}
}

// opcStaffKind is which staff a page manages: the rows it offers actions on
// (Role) and the roles its invitation may name.
type opcStaffKind struct {
	Base      string
	Role      identity.Role
	Invitable []identity.Role
}

type opcStaffData struct {
	Kind      opcStaffKind
	Accounts  []identity.Account
	Next      string
	Languages []string
}

func (s *Server) opcStaffData(r *http.Request, k opcStaffKind) (opcStaffData, error) {
	d := opcStaffData{Kind: k, Languages: panel.Languages}
	var err error
	d.Accounts, d.Next, err = s.deps.Identity.ListStaff(r.Context(), principal(r), catalog.Page{Limit: 100, After: r.URL.Query().Get("after")})
	return d, err
}

func (s *Server) opcStaff(k opcStaffKind) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		d, err := s.opcStaffData(r, k)
		if err != nil {
			return err
		}
		return s.render(w, r, "opc-staff", d)
	}
}

func (s *Server) opcInviteStaff(k opcStaffKind) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := parseForm(w, r); err != nil {
			return err
		}
		f := r.PostForm
		_, err := s.deps.Identity.InviteStaff(r.Context(), principal(r), identity.InviteInput{LoginID: f.Get("login_id"),
			DisplayName: f.Get("display_name"), Email: f.Get("email"), Role: identity.Role(f.Get("role")), Language: f.Get("language")})
		if err != nil {
			d, derr := s.opcStaffData(r, k)
			if derr != nil {
				return derr
			}
			return s.renderRefused(w, r, "opc-staff", d, opcSentField(r, err))
		}
		return redirect(w, r, k.Base, "opc.flash.staff_invited")
	}
}

// opcStaffAct runs an action on one staff account from its row. A refusal
// is shown above the list: a row has no room for a field's message.
func (s *Server) opcStaffAct(k opcStaffKind, act func(*http.Request) (string, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := parseForm(w, r); err != nil {
			return err
		}
		flash, err := act(r)
		if err != nil {
			d, derr := s.opcStaffData(r, k)
			if derr != nil {
				return derr
			}
			return s.renderRefused(w, r, "opc-staff", d, opcUnfield(err))
		}
		return redirect(w, r, k.Base, flash)
	}
}

func (s *Server) opcSetRole(r *http.Request) (string, error) {
	p, id := principal(r), r.PathValue("account")
	if _, err := s.deps.Identity.AccountOf(r.Context(), p, id); err != nil {
		return "", err
	}
	_, err := s.deps.Identity.ChangeRole(r.Context(), p, id, identity.RoleInput{Role: identity.Role(r.PostForm.Get("role"))})
	return "opc.flash.role_changed", err
}

func (s *Server) opcUnlock(r *http.Request) (string, error) {
	return "opc.flash.unlocked", s.deps.Identity.Unlock(r.Context(), principal(r), r.PathValue("account"))
}

func (s *Server) opcDelete(r *http.Request) (string, error) {
	return "opc.flash.deleted", s.deps.Identity.DeleteAccount(r.Context(), principal(r), r.PathValue("account"))
}

// opcUnfield turns a refusal on a field into one for the whole form, for forms
// in table rows, where several rows would carry the same field.
func opcUnfield(err error) error {
	f, ok := fault.As(err)
	if !ok || f.Field == "" {
		return err
	}
	g := *f
	g.Field = ""
	return &g
}

// opcSentField keeps a refusal on its field only when the form (or the
// query) sent that field: a refusal naming a field the form does not have
// (a service rule on another object) shows above the form instead of
// nowhere.
func opcSentField(r *http.Request, err error) error {
	f, ok := fault.As(err)
	if !ok || f.Field == "" {
		return err
	}
	name := formField(f.Field)
	if _, sent := r.PostForm[name]; sent {
		return err
	}
	if _, sent := r.URL.Query()[name]; sent {
		return err
	}
	return opcUnfield(err)
}

type opcRecoveriesData struct {
	Recoveries []identity.Recovery
	Next       string
}

func (s *Server) opcRecoveriesData(r *http.Request) (opcRecoveriesData, error) {
	var d opcRecoveriesData
	var err error
	d.Recoveries, d.Next, err = s.deps.Identity.ListRecoveries(r.Context(), principal(r), catalog.Page{Limit: 50, After: r.URL.Query().Get("after")})
	return d, err
}

func (s *Server) opcRecoveries(w http.ResponseWriter, r *http.Request) error {
	d, err := s.opcRecoveriesData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "opc-recoveries", d)
}

// opcDecideRecovery approves or rejects a request; the identity service
// refuses a decision on one's own request, or on one of the operator who
// invited the deciding officer, and the page shows why.
func (s *Server) opcDecideRecovery(flash string, decide func(*http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := parseForm(w, r); err != nil {
			return err
		}
		if err := decide(r); err != nil {
			d, derr := s.opcRecoveriesData(r)
			if derr != nil {
				return derr
			}
			return s.renderRefused(w, r, "opc-recoveries", d, opcUnfield(err))
		}
		return redirect(w, r, "/recoveries", flash)
	}
}
