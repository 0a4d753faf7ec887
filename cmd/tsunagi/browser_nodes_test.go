package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestBrowserNodeDrain: in a real browser, the operator registers a node,
// drains it from its page (the button asks first) and sees its state in
// words, in Japanese and English; every page visited is checked with
// axe-core (open and submit do).
func TestBrowserNodeDrain(t *testing.T) {
	t.Parallel()
	defer timed(t, "TestBrowserNodeDrain")()
	s := startDemo(t)
	b := newBrowser(t, s)
	base := s.mgmtOrigin()
	op := b.person("operator", "ja")
	link := strings.Replace(s.setupURL, "https://"+s.mgmt, base, 1)
	if st := op.open(link); st != http.StatusOK {
		t.Fatalf("first-operator link: %d", st)
	}
	op.fill("#f-login_id", opLogin)
	op.fill("#f-display_name", "E2E Operator")
	op.fill("#f-email", "ops-e2e@example.net")
	op.fill("#f-password", opPassword)
	if st := op.submit("#setup-submit"); st != http.StatusOK {
		t.Fatalf("first-operator setup: %d:\n%s", st, op.text())
	}
	op.signIn(base, opLogin, opPassword)

	op.open(base + "/nodes")
	op.fill("#node-name", "tyo-hub-09")
	op.choose("#node-region", "tokyo")
	if st := op.submit("#node-submit"); st != http.StatusOK {
		t.Fatalf("register node: %d:\n%s", st, op.text())
	}
	op.open(base + "/nodes/tyo-hub-09")
	op.mustHave("#node-state-badge", "the node's state")
	op.contains("the node's state in words", "稼働中", "新しい収容を受け付けます。")
	op.fill("#drain-reason", "ハードウェア更新")
	if st := op.submit("#drain-submit"); st != http.StatusOK {
		t.Fatalf("drain: %d:\n%s", st, op.text())
	}
	op.contains("the drained node's state", "切り離し中", "新しい収容は受け付けません")
	if op.has("#drain-form") {
		t.Error("a draining node still offers the drain form")
	}
	op.switchLang("en")
	op.open(base + "/nodes/tyo-hub-09")
	op.contains("the drained node's state in English", "Draining", "It takes no new placements")
	op.shoot("operator-node-draining")
}
