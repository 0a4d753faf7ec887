package web

import (
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/webhook"
)

func (s *Server) webhooks() (*webhook.Service, error) {
	if s.deps.Webhooks == nil {
		return nil, fault.New(fault.Unavailable, "webhooks are not available on this controller")
	}
	return s.deps.Webhooks, nil
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	items, err := svc.List(r.Context(), principal(r).Scope())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, ""))
	return nil
}

// webhookSecret is the answer to a registration or a rotation: the only
// time the secret is shown.
type webhookSecret struct {
	webhook.Webhook
	Secret string `json:"secret"`
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	var in webhook.Input
	if err := decode(w, r, &in); err != nil {
		return err
	}
	hook, secret, err := svc.Create(r.Context(), principal(r).Scope(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, webhookSecret{hook, secret})
	return nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	if err := svc.Delete(r.Context(), principal(r).Scope(), r.PathValue("webhook")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) rotateWebhook(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	hook, secret, err := svc.Rotate(r.Context(), principal(r).Scope(), r.PathValue("webhook"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, webhookSecret{hook, secret})
	return nil
}

func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	items, err := svc.Deliveries(r.Context(), principal(r).Scope(), r.PathValue("webhook"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, ""))
	return nil
}
