package identity

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	tmail "github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// Account is a person's login.
type Account struct {
	ID          string             `json:"id"`
	CustomerID  catalog.CustomerID `json:"customer_id,omitempty"`
	LoginID     string             `json:"login_id"`
	DisplayName string             `json:"display_name"`
	Email       string             `json:"email"`
	Role        Role               `json:"role"`
	Language    string             `json:"language"` // of the mails it receives: "ja" or "en"
	Active      bool               `json:"active"`   // false until the invitee sets a password
	// MFA says whether the account has a confirmed second factor (TOTP
	// or a security key), so that an administrator sees who would owe one
	// before requiring it.
	MFA bool `json:"mfa"`
	// LockedUntil is set while the login ID is locked by the login throttle.
	LockedUntil *time.Time `json:"locked_until,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

// InviteInput creates an account that its owner completes through a link.
type InviteInput struct {
	LoginID     string `json:"login_id"`
	DisplayName string `json:"display_name"`
	Email       string `json:"email"`
	Role        Role   `json:"role"`
	Language    string `json:"language,omitempty"` // "ja" (default) or "en"
	// mailAfter, when set, holds the invitation mail until then; the link
	// is valid for InviteLinkTTL from then (an approved recovery's wait).
	mailAfter time.Time
}

// SetupInput completes a setup or invitation link.
type SetupInput struct {
	Token       string `json:"token"`
	LoginID     string `json:"login_id"`     // first operator only
	DisplayName string `json:"display_name"` // first operator only
	Email       string `json:"email"`        // first operator only
	Password    string `json:"password"`
	Language    string `json:"language,omitempty"` // first operator only
}

// Link lifetimes.
const (
	FirstOperatorLinkTTL = 24 * time.Hour
	InviteLinkTTL        = 72 * time.Hour
)

var loginIDRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@-]{2,63}$`)

func checkLanguage(l *string) error {
	switch *l {
	case "":
		*l = "ja"
	case "ja", "en":
	default:
		return fault.Field("language", "language must be ja or en")
	}
	return nil
}

func checkAccountFields(loginID, name, email string) error {
	if !loginIDRE.MatchString(loginID) {
		return fault.Field("login_id", "login_id must be 3–64 letters, digits, '.', '_', '@' or '-'")
	}
	if name == "" || len(name) > 200 || text.SingleLine(name) != "" || strings.ContainsAny(name, "<>") {
		return fault.Field("display_name", "display_name is required: one line of text, at most 200 bytes, without < or >")
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return fault.Field("email", "email must be a plain e-mail address")
	}
	return nil
}

// FirstOperatorLink returns a fresh single-use link token for creating the
// first operator account, or "" when an operator account already exists.
// Earlier unused first-operator links are withdrawn, so only the link printed
// by the latest start works.
func (s *Service) FirstOperatorLink(ctx context.Context) (string, error) {
	token := ids.Secret("tsu")
	created := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM accounts WHERE customer_id IS NULL AND password_hash IS NOT NULL`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM setup_tokens WHERE purpose = 'first-operator'`); err != nil {
			return err
		}
		now := clock.Now()
		if _, err := tx.Exec(ctx, `INSERT INTO setup_tokens (token_hash, purpose, created_at, expires_at) VALUES (?, 'first-operator', ?, ?)`,
			hashSecret(token), clock.Store(now), clock.Store(now.Add(FirstOperatorLinkTTL))); err != nil {
			return err
		}
		created = true
		return s.audit.RecordTx(audit.WithActor(ctx, audit.System), tx, audit.Event{Action: "setup.link.issue", Target: "setup:first-operator",
			Detail: map[string]any{"expires_at": clock.Show(now.Add(FirstOperatorLinkTTL))}})
	})
	if err != nil || !created {
		return "", err
	}
	return token, nil
}

// Invite creates an account of the scope's customer that
// becomes usable once its owner sets a password through the link mailed to
// the account's address. The link itself never leaves the service: whoever
// invites sees only the account, customer and staff accounts alike (the
// first operator's first-start link is the one link handed out, at first
// start, while no operator exists). This is a customer's own
// administrators inviting within their scope (accounts.manage); the
// operator's invitation of a customer's first operations administrator is
// InviteFirstOpsAdmin, staff invitations InviteStaff (the separation of
// duties among staff).
func (s *Service) Invite(ctx context.Context, sc tenant.Scope, in InviteInput) (Account, error) {
	cust, err := sc.Authorize(ActAccountsManage)
	if err != nil {
		return Account{}, err
	}
	a, _, err := s.invite(ctx, cust, sc.Account(), in, nil)
	return a, err
}

// invite is Invite by the account by ("" for the system: SeedStaff) with
// guard, when set, run in the transaction after the input is checked and
// before anything is written; it returns the link's token for SeedStaff,
// which tests and tooling use, and which no request handler reaches.
func (s *Service) invite(ctx context.Context, cust catalog.CustomerID, by string, in InviteInput,
	guard func(context.Context, *store.Tx) error) (Account, string, error) {
	if err := checkInvite(cust, &in); err != nil {
		return Account{}, "", err
	}
	var a Account
	var token string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if guard != nil {
			if err := guard(ctx, tx); err != nil {
				return err
			}
		}
		var err error
		a, token, err = s.inviteTx(ctx, tx, cust, by, in)
		return err
	})
	if err != nil {
		return Account{}, "", fmt.Errorf("invite: %w", err)
	}
	return a, token, nil
}

// checkInvite checks an invitation's fields for customer cust ("" for
// staff) and sets the default language.
func checkInvite(cust catalog.CustomerID, in *InviteInput) error {
	if err := checkAccountFields(in.LoginID, in.DisplayName, in.Email); err != nil {
		return err
	}
	if err := checkLanguage(&in.Language); err != nil {
		return err
	}
	if !in.Role.Valid() || in.Role.OperatorSide() != (cust == "") {
		if cust == "" {
			return fault.Field("role", "role must be operator or security-officer")
		}
		return fault.Field("role", "role must be ops-admin, admin or user")
	}
	return nil
}

// inviteTx writes, inside tx, the account invited by the account by ("" for
// the system), its link and the invitation mail to the invitee, and the
// audit entry; in was checked by checkInvite.
func (s *Service) inviteTx(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, by string, in InviteInput) (Account, string, error) {
	a := Account{ID: ids.New("acc"), CustomerID: cust, LoginID: in.LoginID, DisplayName: in.DisplayName, Email: in.Email,
		Role: in.Role, Language: in.Language, CreatedAt: clock.Now()}
	token := ids.Secret("tsu")
	var custArg any
	if cust != "" {
		var status string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT status FROM customers WHERE id = ?`, cust), &status); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return Account{}, "", fault.New(fault.NotFound, "customer not found")
			}
			return Account{}, "", err
		}
		if status != "active" {
			return Account{}, "", fault.New(fault.Conflict, "customer is terminated")
		}
		custArg = cust
	}
	var byArg any
	if by != "" {
		byArg = by
	}
	if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, customer_id, login_id, display_name, email, role, language, created_at, invited_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, custArg, a.LoginID, a.DisplayName, a.Email, a.Role, a.Language, clock.Store(a.CreatedAt),
		byArg); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return Account{}, "", fault.Wrap(fault.Conflict, err, "login ID %s is taken", a.LoginID)
		}
		return Account{}, "", err
	}
	exp := a.CreatedAt.Add(InviteLinkTTL)
	if !in.mailAfter.IsZero() {
		exp = in.mailAfter.Add(InviteLinkTTL)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO setup_tokens (token_hash, purpose, account_id, created_at, expires_at) VALUES (?, 'invite', ?, ?, ?)`,
		hashSecret(token), a.ID, clock.Store(a.CreatedAt), clock.Store(exp)); err != nil {
		return Account{}, "", err
	}
	side := CustomerSide
	if cust == "" {
		side = OperatorSide
	}
	m, err := inviteMail(a.Language, a.Email, a.DisplayName, a.LoginID, s.link(side, "/setup?token="+token), exp)
	if err != nil {
		return Account{}, "", err
	}
	m.CustomerID, m.After = string(cust), in.mailAfter
	if _, err := tmail.Enqueue(ctx, tx, m); err != nil {
		return Account{}, "", err
	}
	detail := map[string]any{"login_id": a.LoginID, "role": string(a.Role), "link_expires_at": clock.Show(exp)}
	if !in.mailAfter.IsZero() {
		detail["mailed_at"] = clock.Show(in.mailAfter)
	}
	if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "account.invite", Target: "account:" + a.ID, CustomerID: string(cust),
		Detail: detail}); err != nil {
		return Account{}, "", err
	}
	return a, token, nil
}

// CompleteSetup consumes a setup or invitation link and sets the password. A
// used, expired or unknown link gives the same answer.
func (s *Service) CompleteSetup(ctx context.Context, side Side, in SetupInput) (Account, error) {
	bad := fault.New(fault.NotFound, "this link is not valid: it may have expired or been used")
	refused := func(why string, err error) (Account, error) {
		if rerr := s.audit.Record(ctx, audit.Event{Action: "account.setup", Target: "link", Result: audit.Denied,
			Detail: map[string]any{"reason": why}}); rerr != nil {
			return Account{}, rerr
		}
		return Account{}, err
	}
	if in.Token == "" || len(in.Token) > 200 {
		return refused("invalid_link", bad)
	}
	if len(in.Password) > MaxPasswordBytes {
		return refused("password_too_long", errPasswordTooLong)
	}
	var a Account
	var voided bool
	var ended Account // the link's account, when its customer is ended
	var purpose string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var expires string
		var accountID *string
		err := store.Scan(tx.QueryRow(ctx, `SELECT purpose, account_id, expires_at FROM setup_tokens WHERE token_hash = ? AND used_at IS NULL`,
			hashSecret(in.Token)), &purpose, &accountID, &expires)
		if errors.Is(err, store.ErrNotFound) {
			return bad
		}
		if err != nil {
			return err
		}
		now := clock.Now()
		if t, _ := clock.Parse(expires); !now.Before(t) {
			return bad
		}
		switch purpose {
		case "first-operator":
			if side != OperatorSide {
				return bad
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM accounts WHERE customer_id IS NULL AND password_hash IS NOT NULL`).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return bad
			}
			if err := checkAccountFields(in.LoginID, in.DisplayName, in.Email); err != nil {
				return err
			}
			if err := checkLanguage(&in.Language); err != nil {
				return err
			}
			a = Account{ID: ids.New("acc"), LoginID: in.LoginID, DisplayName: in.DisplayName, Email: in.Email, Role: RoleOperator,
				Language: in.Language, CreatedAt: now}
			if err := CheckPolicy(in.Password, a.LoginID); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, login_id, display_name, email, role, language, password_hash, password_changed_at, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.LoginID, a.DisplayName, a.Email, a.Role, a.Language, HashPassword(in.Password, s.cfg.Argon2),
				clock.Store(now), clock.Store(now)); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return fault.Wrap(fault.Conflict, err, "login ID %s is taken", a.LoginID)
				}
				return err
			}
		case "invite", "reset":
			if in.LoginID != "" || in.DisplayName != "" || in.Email != "" || in.Language != "" {
				return fault.Field("login_id", "an invitation fixes the login ID, name and e-mail; send only token and password")
			}
			got, err := s.account(ctx, tx, *accountID)
			if err != nil {
				return err
			}
			// A link is honoured only on its own account's listener.
			if (side == OperatorSide) != (got.CustomerID == "") {
				return bad
			}
			// An ended customer's account sets no password through a link
			// that survived the end: it could never sign in with it.
			if got.CustomerID != "" {
				gone, err := customerEnded(ctx, tx, got.CustomerID)
				if err != nil {
					return err
				}
				if gone {
					ended = got
					return nil
				}
			}
			a = got
			if err := CheckPolicy(in.Password, a.LoginID); err != nil {
				return err
			}
			if purpose == "invite" && a.Active {
				return bad // an invitation never overwrites a password
			}
			if purpose == "invite" {
				late, err := s.staffInviteOvertaken(ctx, tx, a)
				if err != nil {
					return err
				}
				if late {
					voided = true
					return s.voidInvitation(ctx, tx, a, now)
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE accounts SET password_hash = ?, password_changed_at = ? WHERE id = ?`,
				HashPassword(in.Password, s.cfg.Argon2), clock.Store(now), a.ID); err != nil {
				return err
			}
			if purpose == "reset" {
				// A re-issued password ends every session and any lockout;
				// other reset links of the account die with this one.
				if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE account_id = ?`, a.ID); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `UPDATE setup_tokens SET used_at = ? WHERE account_id = ? AND purpose = 'reset' AND used_at IS NULL`,
					clock.Store(now), a.ID); err != nil {
					return err
				}
				if err := clearFailures(ctx, tx, lockKey(sideOf(a.CustomerID), a.LoginID)); err != nil {
					return err
				}
			}
		default:
			return bad
		}
		a.Active = true
		if _, err := tx.Exec(ctx, `UPDATE setup_tokens SET used_at = ? WHERE token_hash = ?`, clock.Store(now), hashSecret(in.Token)); err != nil {
			return err
		}
		actx := audit.WithActor(ctx, Principal{AccountID: a.ID, LoginID: a.LoginID, CustomerID: a.CustomerID, Role: a.Role}.
			Actor(audit.ActorFrom(ctx).SourceIP, audit.ActorFrom(ctx).RequestID))
		action := "account.setup"
		if purpose == "reset" {
			action = "password.reset"
		}
		return s.audit.RecordTx(actx, tx, audit.Event{Action: action, Target: "account:" + a.ID, CustomerID: string(a.CustomerID),
			Detail: map[string]any{"purpose": purpose, "login_id": a.LoginID, "role": string(a.Role)}})
	})
	if err == nil && voided {
		return Account{}, errInviteOvertaken
	}
	if err == nil && ended.ID != "" {
		if rerr := s.audit.Record(ctx, audit.Event{Action: "account.setup", Target: "account:" + ended.ID,
			CustomerID: string(ended.CustomerID), Result: audit.Denied,
			Detail: map[string]any{"reason": "customer_ended", "purpose": purpose}}); rerr != nil {
			return Account{}, rerr
		}
		return Account{}, bad
	}
	if err != nil {
		if errors.Is(err, bad) {
			return refused("invalid_link", bad)
		}
		if fault.Is(err, fault.Invalid) {
			return refused("invalid_input", err)
		}
		return Account{}, fmt.Errorf("setup: %w", err)
	}
	return a, nil
}

const accountCols = `id, customer_id, login_id, display_name, email, role, language, password_hash IS NOT NULL, created_at,
	(SELECT l.locked_until FROM login_locks l WHERE l.login_key =
		CASE WHEN accounts.customer_id IS NULL THEN 'mgmt:' || accounts.login_id ELSE accounts.login_id END),
	(SELECT COUNT(*) FROM totp_secrets t WHERE t.account_id = accounts.id AND t.confirmed_at IS NOT NULL)
		+ (SELECT COUNT(*) FROM webauthn_credentials w WHERE w.account_id = accounts.id)`

func scanAccount(s interface{ Scan(...any) error }) (Account, error) {
	var a Account
	var cust *string
	var at string
	var locked *string
	var factors int
	err := s.Scan(&a.ID, &cust, &a.LoginID, &a.DisplayName, &a.Email, &a.Role, &a.Language, &a.Active, &at, &locked, &factors)
	a.MFA = factors > 0
	if t := parseOpt(locked); t.After(clock.Now()) {
		a.LockedUntil = &t
	}
	if cust != nil {
		a.CustomerID = catalog.CustomerID(*cust)
	}
	a.CreatedAt, _ = clock.Parse(at)
	return a, err
}

func (s *Service) account(ctx context.Context, q store.Querier, id string) (Account, error) {
	a, err := scanAccount(q.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ? AND disabled_at IS NULL`, id))
	if err != nil {
		if errors.Is(store.Wrap(err), store.ErrNotFound) {
			return Account{}, fault.New(fault.NotFound, "account not found")
		}
		return Account{}, store.Wrap(err)
	}
	return a, nil
}

// ListAccounts lists the accounts of the customer of who: its own scope
// (accounts.read) or an operator's handle on it (customer.accounts).
func (s *Service) ListAccounts(ctx context.Context, who tenant.Holder, p catalog.Page) ([]Account, string, error) {
	cust, err := who.Authorize(ActAccountsRead, ActCustomerAccounts)
	if err != nil {
		return nil, "", err
	}
	return s.listAccounts(ctx, cust, p)
}

// ListStaff lists the operator's staff accounts, operators and security
// officers (staff.manage or officers.manage: who holds staff access is
// what a security officer reviews).
func (s *Service) ListStaff(ctx context.Context, p Principal, page catalog.Page) ([]Account, string, error) {
	if !p.Operator() || !(Allowed(p.Role, ActStaffManage) || Allowed(p.Role, ActOfficersManage)) {
		return nil, "", errRoleForbidden
	}
	return s.listAccounts(ctx, "", page)
}

// listAccounts lists the accounts of customer cust, or staff for "".
func (s *Service) listAccounts(ctx context.Context, cust catalog.CustomerID, p catalog.Page) ([]Account, string, error) {
	limit := p.Limit
	if limit <= 0 || limit > catalog.MaxPage {
		limit = 50
	}
	q := `SELECT ` + accountCols + ` FROM accounts WHERE disabled_at IS NULL AND login_id > ? AND `
	args := []any{p.After}
	if cust == "" {
		q += `customer_id IS NULL`
	} else {
		q += `customer_id = ?`
		args = append(args, cust)
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY login_id LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, "", fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	out := []Account{}
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list accounts: %w", err)
		}
		out = append(out, a)
	}
	nextKey := ""
	if len(out) == limit {
		nextKey = out[len(out)-1].LoginID
	}
	return out, nextKey, rows.Err()
}
