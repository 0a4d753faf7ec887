package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	tmail "github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// How operator staff come to invite a customer's operations administrator
// (ISO/IEC 27017 9.2.2; docs/authentication.md "Operator staff and customer
// accounts"). Staff never hold a customer's data outside break-glass, so
// they must not be able to give themselves a customer account either:
//
//   - An operator invites a customer's FIRST operations administrator, and
//     only while the customer has no active one (an ops-admin account that
//     is not deleted and whose password is set). Once one is active, the
//     customer invites its own accounts; the operator's attempt is 409
//     "ops_admin_active", recorded in the customer's audit log.
//   - A customer that has active operations administrators but can use none
//     of them (passwords, mailboxes and second factors lost, the people
//     gone: nothing the data can tell) is recovered by a two-person
//     procedure: an operator requests it with a reason and the invitee's
//     details; a security officer who is not the requester approves it,
//     and only RecoveryWait after that is the invitation sent. The request,
//     the approval and a rejection are recorded in the customer's audit log
//     and mailed to the customer's accounts, which can delete the new
//     account if the claim was false, before its invitation goes.
//   - Several first invitations may wait at once, but only the first one
//     set up counts: the link of another ops-admin that staff invited,
//     used once the customer has an active one, is refused (409
//     "invitation_void") and the invitation voided (staffInviteOvertaken).
//   - A security officer never decides a recovery request of the operator
//     who invited it (403 "invited_by_requester"): an operator invites the
//     first security officer, and could otherwise approve through it.
//   - The setup link of a customer account goes only to the invitee's
//     address: no answer, listing or log hands it to staff (nor a staff
//     account's, staff.go).

// RecoveryTTL is how long a recovery request waits for a security officer.
const RecoveryTTL = 72 * time.Hour

// RecoveryWait is how long the invitation of an approved recovery is held
// before it is mailed: the customer's accounts are told of the approval at
// once, and an operations administrator who can still sign in objects by
// deleting the new account, which withdraws the invitation unsent.
const RecoveryWait = 24 * time.Hour

// Recovery statuses.
const (
	RecoveryRequested = "requested"
	RecoveryApproved  = "approved"
	RecoveryRejected  = "rejected"
	RecoveryExpired   = "expired" // requested, not decided within RecoveryTTL
)

// RecoveryInput asks for a new operations administrator of a locked-out
// customer.
type RecoveryInput struct {
	Reason      string `json:"reason"` // one line, 10 to 1000 bytes: how the customer's claim was checked
	LoginID     string `json:"login_id"`
	DisplayName string `json:"display_name"`
	Email       string `json:"email"`
	Language    string `json:"language,omitempty"` // "ja" (default) or "en"
}

// RecoveryDecision is a security officer's note on rejecting a request.
type RecoveryDecision struct {
	Note string `json:"note"` // one line, 1 to 1000 bytes
}

// Recovery is a recovery request and its outcome.
type Recovery struct {
	ID          string             `json:"id"`
	CustomerID  catalog.CustomerID `json:"customer_id"`
	Status      string             `json:"status"`
	Reason      string             `json:"reason"`
	LoginID     string             `json:"login_id"`
	DisplayName string             `json:"display_name"`
	Email       string             `json:"email"`
	Language    string             `json:"language"`
	RequestedBy string             `json:"requested_by"` // the operator's login ID
	RequestedAt time.Time          `json:"requested_at"`
	ExpiresAt   time.Time          `json:"expires_at"`
	DecidedBy   string             `json:"decided_by,omitempty"` // the security officer's login ID
	DecidedAt   *time.Time         `json:"decided_at,omitempty"`
	Note        string             `json:"note,omitempty"`
	AccountID   string             `json:"account_id,omitempty"` // the invited account, once approved
	MailedAt    *time.Time         `json:"mailed_at,omitempty"`  // when the invitation is (or was) mailed: RecoveryWait after the approval
	requestedBy string
}

var (
	errOpsAdminActive = fault.Coded(fault.Conflict, "ops_admin_active",
		"the customer has an active operations administrator, who invites its accounts; if the customer can use none of its operations administrators, request a recovery (POST /api/v1/customers/{customer}/recoveries)")
	errNoOpsAdmin = fault.Coded(fault.Conflict, "no_ops_admin_active",
		"the customer has no active operations administrator: invite its first one (POST /api/v1/customers/{customer}/accounts)")
	errRecoveryPending = fault.Coded(fault.Conflict, "recovery_pending",
		"a recovery request for this customer is waiting for a security officer")
	errRecoveryClosed = fault.Coded(fault.Conflict, "recovery_closed",
		"this recovery request was decided already or has lapsed")
	errSamePerson = fault.Coded(fault.Forbidden, "same_person",
		"the person who requested a recovery cannot approve it (separation of duties)")
	errInvitedByRequester = fault.Coded(fault.Forbidden, "invited_by_requester",
		"a security officer whom the requester invited cannot decide the requester's recovery request (separation of duties)")
	errInviteOvertaken = fault.Coded(fault.Conflict, "invitation_void",
		"this invitation by operator staff was for the customer's first operations administrator, and the customer has one now: the invitation is void; ask the customer's operations administrator to invite you")
)

// activeOpsAdmins counts cust's active operations administrators: not
// deleted, password set; locked (lockedIDs), so that an invitation and a
// setup cannot both pass the "none active" check.
func activeOpsAdmins(ctx context.Context, tx *store.Tx, cust catalog.CustomerID) (int, error) {
	ids, err := lockedIDs(ctx, tx, `SELECT id FROM accounts WHERE customer_id = ? AND role = ? AND disabled_at IS NULL
		AND password_hash IS NOT NULL ORDER BY id`, cust, RoleOpsAdmin)
	return len(ids), err
}

// staffInviteOvertaken says whether the setup of a, invited and not yet
// active, must be refused: a is a customer's operations administrator that
// operator staff invited (InviteFirstOpsAdmin: its invited_by is a staff
// account) and not an approved recovery's invitee, and the
// customer has an active operations administrator now. Staff may plant no
// account beside one the customer already uses: several first invitations
// can be pending at once, and only the first one set up counts. On
// PostgreSQL the customer's row is locked until tx ends, so that two such
// setups at once are serialised (SQLite's write transactions are serial
// already).
func (s *Service) staffInviteOvertaken(ctx context.Context, tx *store.Tx, a Account) (bool, error) {
	if a.CustomerID == "" || a.Role != RoleOpsAdmin {
		return false, nil
	}
	var staff, recovered int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM accounts a, accounts b WHERE a.id = ? AND b.id = a.invited_by
		AND b.customer_id IS NULL`, a.ID).Scan(&staff); err != nil {
		return false, err
	}
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM account_recoveries WHERE account_id = ? AND status = ?`,
		a.ID, RecoveryApproved).Scan(&recovered); err != nil {
		return false, err
	}
	if staff == 0 || recovered > 0 {
		return false, nil
	}
	if tx.Dialect() == store.Postgres {
		var id string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT id FROM customers WHERE id = ? FOR UPDATE`, a.CustomerID), &id); err != nil {
			return false, err
		}
	}
	n, err := activeOpsAdmins(ctx, tx, a.CustomerID)
	return n > 0, err
}

// voidInvitation ends the invitation of a, refused by staffInviteOvertaken,
// inside tx: the account is deleted and its links die; the refusal and the
// deletion are recorded in the customer's audit log and mailed to its
// operations administrators.
func (s *Service) voidInvitation(ctx context.Context, tx *store.Tx, a Account, now time.Time) error {
	for _, q := range []string{
		`UPDATE accounts SET disabled_at = ? WHERE id = ?`,
		`UPDATE setup_tokens SET used_at = ? WHERE account_id = ? AND used_at IS NULL`,
	} {
		if _, err := tx.Exec(ctx, q, clock.Store(now), a.ID); err != nil {
			return err
		}
	}
	var staff *string
	if err := tx.QueryRow(ctx, `SELECT b.login_id FROM accounts a LEFT JOIN accounts b ON b.id = a.invited_by WHERE a.id = ?`,
		a.ID).Scan(&staff); err != nil {
		return err
	}
	by := "-"
	if staff != nil {
		by = *staff
	}
	if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "account.setup", Target: "account:" + a.ID, CustomerID: string(a.CustomerID),
		Result: audit.Denied, Detail: map[string]any{"reason": "invitation_void", "login_id": a.LoginID}}); err != nil {
		return err
	}
	if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "account.invite.void", Target: "account:" + a.ID,
		CustomerID: string(a.CustomerID), Detail: map[string]any{"login_id": a.LoginID, "email": a.Email, "invited_by": by}}); err != nil {
		return err
	}
	return s.announce(ctx, tx, a.CustomerID, "invite-void", "account.invite.void", true, a.ID, mailFacts{Staff: by,
		LoginID: a.LoginID, Email: a.Email})
}

// InviteFirstOpsAdmin is an operator inviting the first operations
// administrator of the customer of its handle op. Role must be ops-admin (400 on role
// otherwise); a customer with an active one is 409 "ops_admin_active". The
// link goes only to the invitee's address. The invitation is in the
// customer's audit log and is mailed to the customer's other operations
// administrators (invited earlier, not set up yet), if any.
func (s *Service) InviteFirstOpsAdmin(ctx context.Context, p Principal, op tenant.Operator, in InviteInput) (Account, error) {
	if !p.Operator() || !Allowed(p.Role, ActCustomerAccounts) {
		return Account{}, errRoleForbidden
	}
	cust, err := op.Authorize(ActCustomerAccounts)
	if err != nil {
		return Account{}, err
	}
	if in.Role != RoleOpsAdmin {
		return Account{}, fault.Field("role", "operator staff invite only a customer's first operations administrator: role must be ops-admin; the customer's operations administrator invites its other accounts")
	}
	if err := checkInvite(cust, &in); err != nil {
		return Account{}, err
	}
	var a Account
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		n, err := activeOpsAdmins(ctx, tx, cust)
		if err != nil {
			return err
		}
		if n > 0 {
			return errOpsAdminActive
		}
		if a, _, err = s.inviteTx(ctx, tx, cust, p.AccountID, in); err != nil {
			return err
		}
		return s.announce(ctx, tx, cust, "staff-invite", "account.invite", true, a.ID, mailFacts{Staff: p.LoginID,
			LoginID: a.LoginID, Email: a.Email})
	})
	if errors.Is(err, errOpsAdminActive) {
		return Account{}, s.refuse(ctx, "account.invite", "login:"+truncate(in.LoginID, 64), cust, "ops_admin_active", err)
	}
	if err != nil {
		return Account{}, fmt.Errorf("invite: %w", err)
	}
	return a, nil
}

// mailFacts are what the staff-action mails to a customer's accounts say.
type mailFacts struct {
	Name, Customer, At, Expires  string
	Staff, Officer, Reason, Note string
	LoginID, Email               string
}

// announce mails kind to the customer's accounts other than except — only
// its operations administrators when opsAdminsOnly — each in its language,
// inside tx.
func (s *Service) announce(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, kind, cause string, opsAdminsOnly bool,
	except string, f mailFacts) error {
	if err := store.Scan(tx.QueryRow(ctx, `SELECT name FROM customers WHERE id = ?`, cust), &f.Customer); err != nil {
		return err
	}
	f.At = clock.Now().In(clock.JST).Format("2006-01-02 15:04")
	q := `SELECT display_name, email, language FROM accounts WHERE customer_id = ? AND disabled_at IS NULL AND id <> ?`
	args := []any{cust, except}
	if opsAdminsOnly {
		q += ` AND role = ?`
		args = append(args, RoleOpsAdmin)
	}
	rows, err := tx.Query(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return err
	}
	type to struct{ name, email, lang string }
	var tos []to
	for rows.Next() {
		var t to
		if err := rows.Scan(&t.name, &t.email, &t.lang); err != nil {
			rows.Close()
			return err
		}
		tos = append(tos, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range tos {
		f.Name = t.name
		m, err := templateMail(kind, cause, t.lang, t.email, f)
		if err != nil {
			return err
		}
		m.CustomerID = string(cust)
		if _, err := tmail.Enqueue(ctx, tx, m); err != nil {
			return err
		}
	}
	return nil
}

// checkLine checks a one-line text field of min to 1000 bytes.
func checkLine(field, v string, min int) error {
	ok := len(v) >= min && len(v) <= 1000 && utf8.ValidString(v) &&
		!strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) })
	if !ok {
		return fault.Field(field, "%s must be one line of %d to 1000 bytes of text", field, min)
	}
	return nil
}

// RequestRecovery is an operator asking that a new operations administrator
// be invited for the customer of its handle op, which has active ones but
// can use none.
// Nothing is invited until a security officer approves. The request is in
// the customer's audit log and mailed to its operations administrators, who
// can object.
func (s *Service) RequestRecovery(ctx context.Context, p Principal, op tenant.Operator, in RecoveryInput) (Recovery, error) {
	if !p.Operator() || !Allowed(p.Role, ActRecoveryRequest) {
		return Recovery{}, errRoleForbidden
	}
	cust, err := op.Authorize(ActRecoveryRequest)
	if err != nil {
		return Recovery{}, err
	}
	in.Reason = strings.TrimSpace(in.Reason)
	if err := checkLine("reason", in.Reason, 10); err != nil {
		return Recovery{}, err
	}
	inv := InviteInput{LoginID: in.LoginID, DisplayName: in.DisplayName, Email: in.Email, Role: RoleOpsAdmin, Language: in.Language}
	if err := checkInvite(cust, &inv); err != nil {
		return Recovery{}, err
	}
	now := clock.Now()
	r := Recovery{ID: ids.New("rcv"), CustomerID: cust, Status: RecoveryRequested, Reason: in.Reason, LoginID: inv.LoginID,
		DisplayName: inv.DisplayName, Email: inv.Email, Language: inv.Language, RequestedBy: p.LoginID, RequestedAt: now,
		ExpiresAt: now.Add(RecoveryTTL)}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		// The customer's row is locked on PostgreSQL, so that two requests
		// at once cannot both find none open (SQLite's write transactions
		// are serial already).
		q := `SELECT status FROM customers WHERE id = ?`
		if tx.Dialect() == store.Postgres {
			q += ` FOR UPDATE`
		}
		var status string
		if err := store.Scan(tx.QueryRow(ctx, q, cust), &status); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fault.New(fault.NotFound, "customer not found")
			}
			return err
		}
		if status != "active" {
			return fault.New(fault.Conflict, "customer is terminated")
		}
		n, err := activeOpsAdmins(ctx, tx, cust)
		if err != nil {
			return err
		}
		if n == 0 {
			return errNoOpsAdmin
		}
		var open int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM account_recoveries WHERE customer_id = ? AND status = ? AND expires_at > ?`,
			cust, RecoveryRequested, clock.Store(now)).Scan(&open); err != nil {
			return err
		}
		if open > 0 {
			return errRecoveryPending
		}
		var taken int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM accounts WHERE login_id = ?`, inv.LoginID).Scan(&taken); err != nil {
			return err
		}
		if taken > 0 {
			return fault.New(fault.Conflict, "login ID %s is taken", inv.LoginID)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO account_recoveries (id, customer_id, status, reason, login_id, display_name, email,
			language, requested_by, requested_by_login, requested_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, cust, r.Status, r.Reason, r.LoginID, r.DisplayName, r.Email, r.Language, p.AccountID, p.LoginID,
			clock.Store(now), clock.Store(r.ExpiresAt)); err != nil {
			return err
		}
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "account.recovery.request", Target: "recovery:" + r.ID,
			CustomerID: string(cust), Reason: r.Reason, Detail: map[string]any{"login_id": r.LoginID, "email": r.Email,
				"expires_at": clock.Show(r.ExpiresAt)}}); err != nil {
			return err
		}
		return s.announce(ctx, tx, cust, "recovery-request", "account.recovery.request", true, "", mailFacts{Staff: p.LoginID,
			Reason: r.Reason, LoginID: r.LoginID, Email: r.Email, Expires: r.ExpiresAt.In(clock.JST).Format("2006-01-02 15:04")})
	})
	if err != nil {
		return Recovery{}, fmt.Errorf("request recovery: %w", err)
	}
	return r, nil
}

const recoveryCols = `id, customer_id, status, reason, login_id, display_name, email, language, requested_by, requested_by_login,
	requested_at, expires_at, decided_by_login, decided_at, note, account_id`

func scanRecovery(sc interface{ Scan(...any) error }) (Recovery, error) {
	var r Recovery
	var cust, req, exp string
	var decided, account *string
	if err := sc.Scan(&r.ID, &cust, &r.Status, &r.Reason, &r.LoginID, &r.DisplayName, &r.Email, &r.Language, &r.requestedBy,
		&r.RequestedBy, &req, &exp, &r.DecidedBy, &decided, &r.Note, &account); err != nil {
		return Recovery{}, err
	}
	r.CustomerID = catalog.CustomerID(cust)
	r.RequestedAt, _ = clock.Parse(req)
	r.ExpiresAt, _ = clock.Parse(exp)
	if decided != nil {
		t, _ := clock.Parse(*decided)
		r.DecidedAt = &t
	}
	if account != nil {
		r.AccountID = *account
	}
	if r.Status == RecoveryApproved && r.DecidedAt != nil {
		t := r.DecidedAt.Add(RecoveryWait)
		r.MailedAt = &t
	}
	if r.Status == RecoveryRequested && !clock.Now().Before(r.ExpiresAt) {
		r.Status = RecoveryExpired
	}
	return r, nil
}

// ListRecoveries lists recovery requests, newest first (after is the ID of
// the last one of the previous page), for a security officer's review.
func (s *Service) ListRecoveries(ctx context.Context, p Principal, pg catalog.Page) ([]Recovery, string, error) {
	if !p.Operator() || !Allowed(p.Role, ActRecoveryApprove) {
		return nil, "", errRoleForbidden
	}
	limit := pg.Limit
	if limit <= 0 || limit > catalog.MaxPage {
		limit = 50
	}
	q := `SELECT ` + recoveryCols + ` FROM account_recoveries`
	var args []any
	if pg.After != "" {
		q += ` WHERE (requested_at, id) < (SELECT requested_at, id FROM account_recoveries WHERE id = ?)`
		args = append(args, pg.After)
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY requested_at DESC, id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, "", fmt.Errorf("list recoveries: %w", err)
	}
	defer rows.Close()
	out := []Recovery{}
	for rows.Next() {
		r, err := scanRecovery(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list recoveries: %w", err)
		}
		out = append(out, r)
	}
	next := ""
	if len(out) == limit {
		next = out[len(out)-1].ID
	}
	return out, next, rows.Err()
}

// openRecovery reads request id for a decision by p inside tx: it must be
// waiting, and p must not be its requester — neither the same account nor
// an account with the same e-mail address, which is how one person holding
// an operator and a security officer account shows (403 "same_person") —
// nor a security officer the requester invited (403 "invited_by_requester"):
// an operator invites the first security officer while none is active, and
// an officer of its own choosing must not approve its own requests.
func (s *Service) openRecovery(ctx context.Context, tx *store.Tx, p Principal, id string) (Recovery, error) {
	if !p.Operator() || !Allowed(p.Role, ActRecoveryApprove) {
		return Recovery{}, errRoleForbidden
	}
	q := `SELECT ` + recoveryCols + ` FROM account_recoveries WHERE id = ?`
	if tx.Dialect() == store.Postgres {
		q += ` FOR UPDATE`
	}
	r, err := scanRecovery(tx.QueryRow(ctx, q, id))
	if err != nil {
		if errors.Is(store.Wrap(err), store.ErrNotFound) {
			return Recovery{}, fault.New(fault.NotFound, "recovery request not found")
		}
		return Recovery{}, err
	}
	if r.Status != RecoveryRequested {
		return r, errRecoveryClosed
	}
	var same int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM accounts a, accounts b WHERE a.id = ? AND b.id = ?
		AND (a.id = b.id OR LOWER(a.email) = LOWER(b.email))`, r.requestedBy, p.AccountID).Scan(&same); err != nil {
		return r, err
	}
	if same > 0 || r.requestedBy == p.AccountID {
		return r, errSamePerson
	}
	var invited int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM accounts WHERE id = ? AND invited_by = ?`, p.AccountID, r.requestedBy).
		Scan(&invited); err != nil {
		return r, err
	}
	if invited > 0 {
		return r, errInvitedByRequester
	}
	return r, nil
}

// ApproveRecovery is a security officer approving request id: the account
// is invited at once, its invitation mailed to the invitee's address only
// RecoveryWait later, and the approval is recorded in the customer's audit
// log and mailed at once to every other account of the customer, whose
// operations administrators can delete the account meanwhile.
func (s *Service) ApproveRecovery(ctx context.Context, p Principal, id string) (Recovery, error) {
	var r Recovery
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if r, err = s.openRecovery(ctx, tx, p, id); err != nil {
			return err
		}
		now := clock.Now()
		mailAt := now.Add(RecoveryWait)
		a, _, err := s.inviteTx(ctx, tx, r.CustomerID, p.AccountID, InviteInput{LoginID: r.LoginID, DisplayName: r.DisplayName, Email: r.Email,
			Role: RoleOpsAdmin, Language: r.Language, mailAfter: mailAt})
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE account_recoveries SET status = ?, decided_by = ?, decided_by_login = ?, decided_at = ?,
			account_id = ? WHERE id = ?`, RecoveryApproved, p.AccountID, p.LoginID, clock.Store(now), a.ID, r.ID); err != nil {
			return err
		}
		r.Status, r.DecidedBy, r.DecidedAt, r.AccountID, r.MailedAt = RecoveryApproved, p.LoginID, &now, a.ID, &mailAt
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "account.recovery.approve", Target: "recovery:" + r.ID,
			CustomerID: string(r.CustomerID), Reason: r.Reason, Detail: map[string]any{"account": a.ID, "login_id": a.LoginID,
				"email": a.Email, "requested_by": r.RequestedBy, "mailed_at": clock.Show(mailAt)}}); err != nil {
			return err
		}
		return s.announce(ctx, tx, r.CustomerID, "recovery-approve", "account.recovery.approve", false, a.ID, mailFacts{
			Staff: r.RequestedBy, Officer: p.LoginID, Reason: r.Reason, LoginID: a.LoginID, Email: a.Email,
			Expires: mailAt.In(clock.JST).Format("2006-01-02 15:04")})
	})
	return r, s.decisionError(ctx, "account.recovery.approve", id, r, err)
}

// RejectRecovery is a security officer rejecting request id with a note;
// the rejection is recorded in the customer's audit log and mailed to its
// operations administrators.
func (s *Service) RejectRecovery(ctx context.Context, p Principal, id string, in RecoveryDecision) (Recovery, error) {
	in.Note = strings.TrimSpace(in.Note)
	if err := checkLine("note", in.Note, 1); err != nil {
		return Recovery{}, err
	}
	var r Recovery
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if r, err = s.openRecovery(ctx, tx, p, id); err != nil {
			return err
		}
		now := clock.Now()
		if _, err := tx.Exec(ctx, `UPDATE account_recoveries SET status = ?, decided_by = ?, decided_by_login = ?, decided_at = ?,
			note = ? WHERE id = ?`, RecoveryRejected, p.AccountID, p.LoginID, clock.Store(now), in.Note, r.ID); err != nil {
			return err
		}
		r.Status, r.DecidedBy, r.DecidedAt, r.Note = RecoveryRejected, p.LoginID, &now, in.Note
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "account.recovery.reject", Target: "recovery:" + r.ID,
			CustomerID: string(r.CustomerID), Reason: in.Note, Detail: map[string]any{"requested_by": r.RequestedBy}}); err != nil {
			return err
		}
		return s.announce(ctx, tx, r.CustomerID, "recovery-reject", "account.recovery.reject", true, "", mailFacts{
			Staff: r.RequestedBy, Officer: p.LoginID, Note: in.Note})
	})
	return r, s.decisionError(ctx, "account.recovery.reject", id, r, err)
}

// decisionError records a refused decision in the customer's audit log (the
// same-person refusal and a request no longer open) and wraps other errors.
func (s *Service) decisionError(ctx context.Context, action, id string, r Recovery, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errSamePerson):
		return s.refuse(ctx, action, "recovery:"+id, r.CustomerID, "same_person", err)
	case errors.Is(err, errInvitedByRequester):
		return s.refuse(ctx, action, "recovery:"+id, r.CustomerID, "invited_by_requester", err)
	case errors.Is(err, errRecoveryClosed), errors.Is(err, errRoleForbidden):
		return s.refuse(ctx, action, "recovery:"+id, r.CustomerID, "refused", err)
	}
	return fmt.Errorf("%s: %w", action, err)
}
