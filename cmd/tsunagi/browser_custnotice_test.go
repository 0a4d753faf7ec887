package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// noticeSettingsInBrowser: a customer's operations administrator, signed
// in on base, opens its notices and notice settings, adds a notice
// contact, creates a feed token whose feed (fetched with the address shown
// once) is an Atom document, revokes it, and reads its notification log;
// both languages, and axe-core on every page opened. TestBrowserNotices
// runs it after the publish, in the same serve and browser.
func noticeSettingsInBrowser(t *testing.T, ops *tab, base string) {
	t.Helper()
	ops.checkLanguages("/notices")
	ops.checkLanguages("/notice-settings")
	if st := ops.open(base + "/notices"); st != http.StatusOK {
		t.Fatalf("/notices: %d", st)
	}
	ops.mustHave(`a[href="/notice-settings"]`, "the way to the settings")
	if st := ops.submit(`main a[href="/notice-settings"]`); st != http.StatusOK {
		t.Fatalf("/notice-settings: %d", st)
	}

	ops.fill("#f-contact_email", "noc@example.co.jp")
	ops.fill("#f-contact_name", "NOC <team>")
	ops.choose("#f-contact_language", "en")
	if st := ops.submit("#notice-contact-add"); st != http.StatusOK {
		t.Fatalf("add contact: %d:\n%s", st, ops.text())
	}
	ops.mustHave("#notice-contacts", "the contact list")
	ops.contains("the new contact", "noc@example.co.jp", "NOC <team>")

	ops.fill("#f-feed_label", "Team reader")
	ops.choose("#f-feed_language", "en")
	if st := ops.submit("#notice-feed-create"); st != http.StatusOK {
		t.Fatalf("create token: %d:\n%s", st, ops.text())
	}
	feedURL := eval[string](ops, `document.querySelector("#notice-feed-url").textContent`)
	if !strings.Contains(feedURL, "/feed/notices.atom?token=tsf_") {
		t.Fatalf("feed address %q", feedURL)
	}
	// The feed as a reader fetches it: no cookie, the token in the
	// address (its path: the mails' host name may not be the browser's).
	u, err := url.Parse(strings.TrimSpace(feedURL))
	if err != nil {
		t.Fatal(err)
	}
	feedPath := u.RequestURI()
	feed := eval[string](ops, `fetch(`+strconv.Quote(feedPath)+`, {credentials: "omit"}).then(async r => r.status + " " +
		r.headers.get("Content-Type") + "\n" + await r.text())`)
	if !strings.HasPrefix(feed, "200 application/atom+xml") || !strings.Contains(feed, "<feed xmlns=\"http://www.w3.org/2005/Atom\"") {
		t.Fatalf("feed: %.500s", feed)
	}
	if st := ops.submit("#notice-feed-done"); st != http.StatusOK {
		t.Fatalf("back to the settings: %d", st)
	}
	ops.mustHave("#notice-feed-tokens", "the token list")
	if strings.Contains(ops.text(), "tsf_") {
		t.Fatal("the settings page shows the token's secret again")
	}
	if st := ops.submit(`#notice-feed-tokens form button`); st != http.StatusOK {
		t.Fatalf("revoke: %d", st)
	}
	revoked := eval[int](ops, `fetch(`+strconv.Quote(feedPath)+`, {credentials: "omit"}).then(r => r.status)`)
	if revoked != http.StatusUnauthorized {
		t.Fatalf("a revoked token's feed: %d", revoked)
	}

	if st := ops.submit("#notice-log-link"); st != http.StatusOK {
		t.Fatalf("the notification log: %d", st)
	}
	ops.mustHave("#notice-log-filter", "the log's filter")
	ops.shoot("customer-notice-log")
}
