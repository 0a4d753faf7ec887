package lifecycle

import (
	"context"
	"embed"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// The erasure notice: the signed deletion certificate, mailed to the
// customer's operations administrators. Their accounts are erased before
// the certificate exists, so the notice step holds one mail per address
// (mail.Hold, read from the accounts while they exist) and the last step
// writes and releases them with the certificate inline.
//
// A released notice carries no customer_id: it is the operator's record of
// having told the customer, like the certificate it carries, not the
// customer's mail (which the mail step erased). It stays in the outbox as
// every sent mail does — recipient, subject, times, status — and its body
// is dropped once sent; the certificate lists its outbox IDs.

// noticeCause is the notices' cause in the outbox.
const noticeCause = "customer.erasure"

//go:embed mailtext/*.txt
var mailFiles embed.FS

var mailTemplates = mail.ParseTemplates(mailFiles, "mailtext/*.txt")

// queueNotice holds one notice per distinct address of the customer's
// active operations administrators, in their language.
func queueNotice(ctx context.Context, _ *Purger, tx *store.Tx, cust catalog.CustomerID) (int64, error) {
	admins, err := identity.OpsAdminRecipients(ctx, tx, cust)
	if err != nil {
		return 0, err
	}
	type to struct{ addr, lang string }
	var tos []to
	seen := map[string]bool{}
	for _, a := range admins {
		if !seen[a.Email] {
			seen[a.Email] = true
			tos = append(tos, to{a.Email, a.Language})
		}
	}
	for _, t := range tos {
		// The subject and body are written at release; until then the
		// entry is the customer's, so that release finds it.
		if _, err := mail.Hold(ctx, tx, mail.Message{CustomerID: string(cust), Cause: noticeCause, To: t.addr, Language: t.lang}); err != nil {
			return 0, err
		}
	}
	return int64(len(tos)), nil
}

type heldNotice struct{ id, lang, to string }

// heldNotices are cust's notices waiting for the certificate.
func heldNotices(ctx context.Context, tx *store.Tx, cust catalog.CustomerID) ([]heldNotice, error) {
	rows, err := tx.Query(ctx, `SELECT id, language, recipient FROM mail_outbox WHERE customer_id = ? AND cause = ? ORDER BY id`,
		cust, noticeCause)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []heldNotice
	for rows.Next() {
		var n heldNotice
		if err := rows.Scan(&n.id, &n.lang, &n.to); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// releaseNotices writes each held notice in its language with doc inline
// and lets it go, as the platform's mail.
func releaseNotices(ctx context.Context, tx *store.Tx, c Certificate, doc string, notices []heldNotice) error {
	data := struct {
		Name, TerminatedOn, Day1, Finished, Certificate string
		Classes                                         []ClassCount
	}{c.Customer.Name, c.TerminatedOn, c.Day1, c.FinishedAtJST, doc, c.Classes}
	for _, n := range notices {
		m, err := mailTemplates.Message("erasure-notice", noticeCause, n.lang, n.to, data)
		if err != nil {
			return err
		}
		if err := mail.Release(ctx, tx, n.id, "", m.Subject, m.Body); err != nil {
			return fmt.Errorf("notice: %w", err)
		}
	}
	return nil
}
