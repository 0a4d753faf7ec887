package main

import (
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestBrowserScratch(t *testing.T) {
	s := startDemo(t)
	link := mailedLink(t, s, "ops@example.co.jp")
	u, _ := url.Parse(link)
	r := s.must("POST", s.customerURL("/api/v1/setup"), map[string]string{"token": u.Query().Get("token"), "password": opsPassword}, nil)
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	b := newBrowser(t, s)
	p := b.person("ops", "ja")
	r = s.must("POST", s.customerURL("/api/v1/session"), map[string]any{"login_id": "example-ops", "password": opsPassword}, nil)
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if _, err := chromedp.Call(p.ctx, network.SetCookie, network.SetCookieParams{Name: c.Name, Value: c.Value, URL: s.customerOrigin() + "/"}); err != nil {
			t.Fatal(err)
		}
	}
	p.open(s.customerOrigin() + "/")
	for _, path := range p.navLinks() {
		if path == "/me" || path == "/network" {
			continue
		}
		p.checkLanguages(path, "Example Trading K.K.")
		p.shoot("scratch" + strings.ReplaceAll(path, "/", "-"))
	}
}
