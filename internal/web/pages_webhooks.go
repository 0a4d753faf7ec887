package web

import (
	"net/http"
	"slices"

	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/webhook"
)

// webhookCustomerPages are the customer panel's event-webhook pages: the
// list with the registration form, the secret shown once, each webhook's
// delivery log. Each calls the webhook service as the matching API
// operation does, with the viewer's own scope.
func (s *Server) webhookCustomerPages() []pageRoute {
	return []pageRoute{
		{"GET", "/webhooks", identity.ActWebhooksRead, []string{"GET /api/v1/webhooks"}, s.webhooksPage},
		{"POST", "/webhooks", identity.ActWebhooksManage, []string{"POST /api/v1/webhooks"}, s.webhookRegister},
		{"GET", "/webhooks/{webhook}", identity.ActWebhooksRead, []string{"GET /api/v1/webhooks/{webhook}/deliveries"}, s.webhookLogPage},
		{"POST", "/webhooks/{webhook}/secret", identity.ActWebhooksManage, []string{"POST /api/v1/webhooks/{webhook}/secret"}, s.webhookRotate},
		{"POST", "/webhooks/{webhook}/delete", identity.ActWebhooksRead, []string{"DELETE /api/v1/webhooks/{webhook}"}, s.webhookRemove},
	}
}

// eventOption is one checkbox of the registration form.
type eventOption struct {
	Type    string
	Checked bool
}

type webhooksData struct {
	Hooks     []webhook.Webhook
	Events    []eventOption
	Max       int
	CanManage bool
}

func (s *Server) webhooksData(r *http.Request, checked []string) (webhooksData, error) {
	d := webhooksData{Max: webhook.MaxWebhooks, CanManage: identity.Allowed(principal(r).Role, identity.ActWebhooksManage)}
	for _, t := range webhook.Types {
		d.Events = append(d.Events, eventOption{Type: t, Checked: slices.Contains(checked, t)})
	}
	svc, err := s.webhooks()
	if err != nil {
		return d, err
	}
	d.Hooks, err = svc.List(r.Context(), principal(r).Scope())
	return d, err
}

func (s *Server) webhooksPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.webhooksData(r, nil)
	if err != nil {
		return err
	}
	return s.render(w, r, "webhooks", d)
}

type webhookSecretData struct {
	Hook    webhook.Webhook
	Secret  string
	Rotated bool
}

// webhookRegister registers a webhook and shows its secret on the answer
// to the POST, the one time it is shown; a refusal shows the form again
// with what was typed, and registers nothing.
func (s *Server) webhookRegister(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	in := webhook.Input{URL: r.PostForm.Get("url"), Events: r.PostForm["events"], Description: r.PostForm.Get("description")}
	hook, secret, err := svc.Create(r.Context(), principal(r).Scope(), in)
	if err != nil {
		d, derr := s.webhooksData(r, in.Events)
		if derr != nil {
			return derr
		}
		return s.renderRefused(w, r, "webhooks", d, err)
	}
	return s.render(w, r, "webhooks-secret", webhookSecretData{Hook: hook, Secret: secret})
}

func (s *Server) webhookRotate(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	hook, secret, err := svc.Rotate(r.Context(), principal(r).Scope(), r.PathValue("webhook"))
	if err != nil {
		return err
	}
	return s.render(w, r, "webhooks-secret", webhookSecretData{Hook: hook, Secret: secret, Rotated: true})
}

func (s *Server) webhookRemove(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	if err := svc.Delete(r.Context(), principal(r).Scope(), r.PathValue("webhook")); err != nil {
		return err
	}
	return redirect(w, r, "/webhooks", "webhooks.flash.removed")
}

type webhookLogData struct {
	Hook       webhook.Webhook
	Deliveries []webhook.Delivery
	CanManage  bool
}

// webhookLogPage is one webhook with its newest deliveries.
func (s *Server) webhookLogPage(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	sc := principal(r).Scope()
	hook, err := svc.Get(r.Context(), sc, r.PathValue("webhook"))
	if err != nil {
		return err
	}
	log, err := svc.Deliveries(r.Context(), sc, hook.ID)
	if err != nil {
		return err
	}
	return s.render(w, r, "webhooks-log", webhookLogData{Hook: hook, Deliveries: log,
		CanManage: identity.Allowed(principal(r).Role, identity.ActWebhooksManage)})
}
