package main

// What the browser scenarios share: a demo controller, setup links from the
// development mail sink, sign-in, the language check and the crawl.

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startDemo runs `serve --demo` as the README's first run does (on port 0
// instead of 8443/9443). WebAuthn binds a key to the browser's origin, port
// included: the relying party learns it from the bound listeners.
func startDemo(t *testing.T) *server {
	t.Helper()
	return startServe(t, serveOpts{args: []string{"--demo"}})
}

// The browser's origins: localhost, as the links in mail say.
func (s *server) customerOrigin() string { return "https://localhost:" + portOf(s.customer) }
func (s *server) mgmtOrigin() string     { return "https://localhost:" + portOf(s.mgmt) }

func portOf(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

var setupLinkRE = regexp.MustCompile(`https://\S+/setup\?token=tsu_[a-z2-7]+`)

// mailedLink waits for a mail to address in the data directory's mail sink
// and returns the setup link in it.
func mailedLink(t *testing.T, s *server, address string) string {
	t.Helper()
	var link string
	waitFor(t, startTimeout, "a setup link mailed to "+address, func() bool {
		files, _ := filepath.Glob(filepath.Join(s.dataDir, "mail", "*.eml"))
		for _, f := range files {
			h, err := os.Open(f)
			if err != nil {
				continue
			}
			m, err := mail.ReadMessage(h)
			if err == nil && strings.Contains(m.Header.Get("To"), address) {
				b, _ := io.ReadAll(m.Body)
				link = setupLinkRE.FindString(string(b))
			}
			h.Close()
			if link != "" {
				return true
			}
		}
		return false
	})
	return link
}

// setPassword completes a mailed setup link in the browser.
func (p *tab) setPassword(link, password string) {
	p.t.Helper()
	if st := p.open(link); st != http.StatusOK {
		p.t.Fatalf("%s: setup link answered %d:\n%s", p.name, st, p.text())
	}
	p.fill("#f-password", password)
	if st := p.submit("#setup-submit"); st != http.StatusOK {
		p.t.Fatalf("%s: setting the password answered %d:\n%s", p.name, st, p.text())
	}
	p.mustHave("#setup-done", "the password is set")
}

// in is the same person inside a subtest (a failure stops that subtest).
func (p *tab) in(t *testing.T) *tab {
	c := *p
	c.t = t
	return &c
}

// items is a list answer of the API (an operator call with token tok).
func (s *server) items(tok, path string) []map[string]any {
	s.t.Helper()
	r := s.must("GET", s.mgmtURL(path), nil, bearer(tok))
	if r.status != http.StatusOK {
		s.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	var out struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	return out.Items
}

// signIn signs in at base (a listener's origin) with a password and ends on
// the page the sign-in leads to.
func (p *tab) signIn(base, login, password string) {
	p.t.Helper()
	if st := p.open(base + "/login"); st != http.StatusOK {
		p.t.Fatalf("%s: /login answered %d", p.name, st)
	}
	p.fill("#login-id", login)
	p.fill("#password", password)
	if st := p.submit("#login-submit"); st != http.StatusOK {
		p.t.Fatalf("%s: sign-in answered %d:\n%s", p.name, st, p.text())
	}
}

// signOut uses the layout's sign-out button.
func (p *tab) signOut() {
	p.t.Helper()
	p.submit(`header form[action="/logout"] button`)
}

// switchLang uses the layout's language switch.
func (p *tab) switchLang(lang string) {
	p.t.Helper()
	p.submit(`form.lang button[value="` + lang + `"]`)
	p.lang = lang
}

// untranslated matches a line of English prose (three words or more): in
// the Japanese page such a line, when the English page shows it unchanged,
// is a text that the catalogue does not translate.
var englishProse = regexp.MustCompile(`[A-Za-z]{2,}[ ,]+[A-Za-z]{2,}[ ,]+[A-Za-z]{2,}`)

// checkLanguages opens path, reads it, switches the language with the
// layout's switch and reads it again, then compares what a person sees: no
// catalogue key shown raw in either, the two differ, the English page has
// no kana, and no line of English prose is left as it is on the Japanese
// page. data are texts that are the same in both languages by nature (names
// the test set, document titles); they are left out of the comparison.
func (p *tab) checkLanguages(path string, data ...string) {
	p.t.Helper()
	keys := catalogueKeyShape(p.t)
	p.open(p.origin() + path)
	texts := map[string]string{p.lang: p.text()}
	if p.lang == "ja" {
		p.switchLang("en")
	} else {
		p.switchLang("ja")
	}
	texts[p.lang] = p.text()
	for lang, txt := range texts {
		if k := keys.FindAllString(txt, 5); k != nil {
			p.t.Errorf("%s (%s) shows catalogue keys raw: %v", path, lang, k)
		}
		for _, d := range data {
			txt = strings.ReplaceAll(txt, d, "")
		}
		texts[lang] = txt
	}
	ja, en := texts["ja"], texts["en"]
	if ja == en {
		p.t.Errorf("%s: the Japanese and English pages are the same:\n%s", path, tail(en, 1500))
	}
	if k := kana.FindAllString(en, 10); k != nil {
		p.t.Errorf("%s (en) has Japanese text: %q in\n%s", path, k, tail(en, 1500))
	}
	jaLines := map[string]bool{}
	for _, l := range strings.Split(ja, "\n") {
		jaLines[strings.TrimSpace(l)] = true
	}
	for _, l := range strings.Split(en, "\n") {
		if l = strings.TrimSpace(l); jaLines[l] && englishProse.MatchString(l) {
			p.t.Errorf("%s: %q is the same in Japanese and English", path, l)
		}
	}
}

// origin is the scheme://host:port of the tab's page.
func (p *tab) origin() string {
	loc := p.location()
	if i := strings.Index(loc[len("https://"):], "/"); i >= 0 {
		return loc[:len("https://")+i]
	}
	return loc
}

// timed logs how long a scenario step took (the report quotes them).
func timed(t *testing.T, what string) func() {
	start := time.Now()
	return func() { t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond)) }
}

// crawl opens every page of the panel that links from start lead to (same
// origin, GET, breadth first, at most limit pages), so that axe-core sees
// each one; no page may fail or show a catalogue key raw. It returns the
// paths it opened.
func (p *tab) crawl(start string, limit int) []string {
	p.t.Helper()
	keys := catalogueKeyShape(p.t)
	base := p.origin()
	seen := map[string]bool{start: true}
	queue := []string{start}
	var opened []string
	for len(queue) > 0 && len(opened) < limit {
		path := queue[0]
		queue = queue[1:]
		if st := p.open(base + path); st != http.StatusOK {
			p.t.Errorf("%s: %s answered %d", p.name, path, st)
			continue
		}
		opened = append(opened, path)
		// A service document is its own text (and names sysctls such as
		// net.ipv4.…, which have a key's shape).
		if k := keys.FindAllString(p.text(), 5); k != nil && !strings.HasPrefix(path, "/docs/") {
			p.t.Errorf("%s shows catalogue keys raw: %v", path, k)
		}
		// A download link (the export) leads to a file, not a page.
		links := eval[[]string](p, `[...document.querySelectorAll("a[href^='/']:not([download])")].map(a => a.getAttribute("href").split("#")[0])`)
		for _, l := range links {
			if l == "" || seen[l] || strings.HasPrefix(l, "/api/") || strings.HasPrefix(l, "/assets/") || strings.HasSuffix(l, ".csv") {
				continue
			}
			seen[l] = true
			queue = append(queue, l)
		}
	}
	return opened
}
