// Package mailtest is test support for mail: it reads a single-use link out
// of the outbox as its recipient would read it out of the mail, since no
// API or service call hands a customer's setup link to anyone else.
package mailtest

import (
	"context"
	"regexp"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/mail"
)

var linkTokenRE = regexp.MustCompile(`token=(tsu_[a-z2-7]+)`)

// LinkToken returns the link token in the newest outbox mail to addr with
// the given cause (e.g. "account.invite"), and fails tb if there is none.
func LinkToken(tb testing.TB, ob *mail.Outbox, addr, cause string) string {
	tb.Helper()
	tok, ok := FindLinkToken(tb, ob, addr, cause)
	if !ok {
		tb.Fatalf("no %s mail with a link to %s in the outbox", cause, addr)
	}
	return tok
}

// FindLinkToken is LinkToken reporting absence instead of failing.
func FindLinkToken(tb testing.TB, ob *mail.Outbox, addr, cause string) (string, bool) {
	tb.Helper()
	ctx := context.Background()
	var newest mail.Entry
	tok := ""
	for after := ""; ; {
		items, err := ob.List(ctx, "", after, 500)
		if err != nil {
			tb.Fatalf("outbox: %v", err)
		}
		for _, it := range items {
			if it.Recipient != addr || it.Cause != cause || (tok != "" && !it.CreatedAt.After(newest.CreatedAt)) {
				continue
			}
			_, body, err := ob.Get(ctx, it.ID)
			if err != nil {
				tb.Fatalf("outbox: %v", err)
			}
			if m := linkTokenRE.FindStringSubmatch(body); m != nil {
				newest, tok = it, m[1]
			}
		}
		if len(items) < 500 {
			return tok, tok != ""
		}
		after = items[len(items)-1].ID
	}
}
