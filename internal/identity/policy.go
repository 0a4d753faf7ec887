package identity

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// SecurityPolicy is a customer's own access policy (ISO/IEC 27017 9.2.3).
type SecurityPolicy struct {
	// AllowList holds the source prefixes from which the customer's accounts
	// may log in and call the API; empty means from anywhere.
	AllowList []string `json:"allow_list"`
	// RequireMFA makes every login of the customer's admins and operations
	// administrators complete a second factor.
	RequireMFA bool `json:"require_mfa"`
	// RequireDevice makes every login come from a registered device
	// (client certificate).
	RequireDevice bool      `json:"require_device"`
	UpdatedAt     time.Time `json:"updated_at,omitzero"`
}

// MaxAllowList bounds the allow-list's length.
const MaxAllowList = 100

// parseAllow reads prefixes or single addresses into canonical prefixes.
func parseAllow(list []string) ([]netip.Prefix, error) {
	if len(list) > MaxAllowList {
		return nil, fault.Field("allow_list", "allow_list holds at most %d entries", MaxAllowList)
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, f := range list {
		f = strings.TrimSpace(f)
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, fault.Field("allow_list", "allow_list entry %q is not an IP address or prefix", truncate(f, 60))
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Policy returns customer cust's security policy.
func (s *Service) Policy(ctx context.Context, sc tenant.Scope) (SecurityPolicy, error) {
	cust, err := sc.Authorize(ActSecurityManage)
	if err != nil {
		return SecurityPolicy{}, err
	}
	return s.policy(ctx, s.db, cust)
}

func (s *Service) policy(ctx context.Context, q store.Querier, cust catalog.CustomerID) (SecurityPolicy, error) {
	var p SecurityPolicy
	var allow, at string
	err := store.Scan(q.QueryRow(ctx, `SELECT allow_list, require_mfa, require_device, updated_at FROM customer_security
		WHERE customer_id = ?`, cust), &allow, &p.RequireMFA, &p.RequireDevice, &at)
	if errors.Is(err, store.ErrNotFound) {
		return SecurityPolicy{AllowList: []string{}}, nil
	}
	if err != nil {
		return SecurityPolicy{}, fmt.Errorf("policy: %w", err)
	}
	p.AllowList = []string{}
	if allow != "" {
		p.AllowList = strings.Split(allow, ",")
	}
	p.UpdatedAt, _ = clock.Parse(at)
	return p, nil
}

// PolicyInput replaces a customer's policy. Every field is required:
// a body that leaves one out (or is null or {}) is refused rather than read
// as "clear it", which would drop the allow-list and both requirements.
type PolicyInput struct {
	AllowList     *[]string `json:"allow_list"`
	RequireMFA    *bool     `json:"require_mfa"`
	RequireDevice *bool     `json:"require_device"`
	// UpdatedAt is accepted, as the answer of GET holds it, and ignored.
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// SetPolicy replaces customer cust's policy. A new allow-list must contain the
// caller's own address, so that an administrator cannot lock everyone out by
// mistake. A change is audited with the policy before and after, and mailed,
// in the same transaction, to every active operations administrator of the
// customer.
func (s *Service) SetPolicy(ctx context.Context, sc tenant.Scope, in PolicyInput) (SecurityPolicy, error) {
	cust, err := sc.Authorize(ActSecurityManage)
	if err != nil {
		return SecurityPolicy{}, err
	}
	switch {
	case in.AllowList == nil:
		return SecurityPolicy{}, fault.Field("allow_list", "allow_list is required (an empty list allows every address)")
	case in.RequireMFA == nil:
		return SecurityPolicy{}, fault.Field("require_mfa", "require_mfa is required (true or false)")
	case in.RequireDevice == nil:
		return SecurityPolicy{}, fault.Field("require_device", "require_device is required (true or false)")
	}
	prefixes, err := parseAllow(*in.AllowList)
	if err != nil {
		return SecurityPolicy{}, err
	}
	actor := audit.ActorFrom(ctx)
	if len(prefixes) > 0 && !sourceIn(actor.SourceIP, prefixes) {
		return SecurityPolicy{}, fault.Field("allow_list", "allow_list must include your own address %s, or you would lock yourself out",
			actor.SourceIP)
	}
	if *in.RequireDevice {
		devs, err := s.listDevices(ctx, s.db, cust)
		if err != nil {
			return SecurityPolicy{}, err
		}
		if len(devs) == 0 {
			return SecurityPolicy{}, fault.Field("require_device", "register at least one device before requiring devices")
		}
	}
	canon := make([]string, len(prefixes))
	for i, p := range prefixes {
		canon[i] = p.String()
	}
	out := SecurityPolicy{AllowList: canon, RequireMFA: *in.RequireMFA, RequireDevice: *in.RequireDevice, UpdatedAt: clock.Now()}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		before, err := s.policy(ctx, tx, cust)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO customer_security (customer_id, allow_list, require_mfa, require_device, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (customer_id) DO UPDATE SET allow_list = excluded.allow_list,
			require_mfa = excluded.require_mfa, require_device = excluded.require_device, updated_at = excluded.updated_at`,
			cust, strings.Join(canon, ","), out.RequireMFA, out.RequireDevice, clock.Store(out.UpdatedAt)); err != nil {
			return err
		}
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "security.policy.set", Target: "customer:" + string(cust),
			CustomerID: string(cust), Detail: map[string]any{"before": policyDetail(before), "after": policyDetail(out)}}); err != nil {
			return err
		}
		if samePolicy(before, out) {
			return nil
		}
		return s.mailPolicyChange(ctx, tx, cust, before, out)
	})
	if err != nil {
		return SecurityPolicy{}, fmt.Errorf("set policy: %w", err)
	}
	return out, nil
}

func policyDetail(p SecurityPolicy) map[string]any {
	return map[string]any{"allow_list": p.AllowList, "require_mfa": p.RequireMFA, "require_device": p.RequireDevice}
}

func samePolicy(a, b SecurityPolicy) bool {
	return a.RequireMFA == b.RequireMFA && a.RequireDevice == b.RequireDevice && slices.Equal(a.AllowList, b.AllowList)
}

// mailPolicyChange queues, inside tx, the policy-change notice to every
// active operations administrator of cust, each in its own language.
func (s *Service) mailPolicyChange(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, before, after SecurityPolicy) error {
	admins, err := OpsAdminRecipients(ctx, tx, cust)
	if err != nil {
		return err
	}
	actor := audit.ActorFrom(ctx)
	for _, a := range admins {
		m, err := templateMail("policy_changed", "security.policy.set", a.Language, a.Email, map[string]any{
			"Name": a.Name, "By": actor.Name, "At": clock.Show(after.UpdatedAt), "From": actor.SourceIP,
			"Before": before, "After": after})
		if err != nil {
			return err
		}
		m.CustomerID = string(cust)
		if _, err := mail.Enqueue(ctx, tx, m); err != nil {
			return err
		}
	}
	return nil
}

func sourceIn(ip string, prefixes []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// CheckFeedSource refuses, and audits, a read of customer cust's notice
// feed through feed token tokenID from outside the customer's source-IP
// allow-list or after its contract ended: a feed token is a credential,
// held to the allow-list as an API token is. The source is the request's
// (the actor in ctx).
func (s *Service) CheckFeedSource(ctx context.Context, cust catalog.CustomerID, tokenID string) error {
	_, err := s.checkSource(ctx, cust, "notice_feed_token:"+tokenID, "feed")
	return err
}

// errSourceRefused is the answer to a customer principal calling from outside
// its customer's allow-list.
var errSourceRefused = fault.New(fault.Forbidden, "access from your address is not allowed by your organisation's source-IP allow-list")

// checkSource refuses, and audits, a customer principal whose customer has
// been ended (checkEnded) or whose source address is outside its customer's
// allow-list. Every authentication path calls it, which makes it the one
// place where an ended customer is shut out. It returns the customer's policy
// (the zero policy for operator staff, whose listener filters sources).
// target names the credential in the audit entry of a refusal
// ("account:<id>", "notice_feed_token:<id>").
func (s *Service) checkSource(ctx context.Context, cust catalog.CustomerID, target, via string) (SecurityPolicy, error) {
	if cust == "" {
		return SecurityPolicy{}, nil
	}
	if err := s.checkEnded(ctx, cust, target, via); err != nil {
		return SecurityPolicy{}, err
	}
	p, err := s.policy(ctx, s.db, cust)
	if err != nil || len(p.AllowList) == 0 {
		return p, err
	}
	prefixes, err := parseAllow(p.AllowList)
	if err != nil {
		return p, err
	}
	ip := audit.ActorFrom(ctx).SourceIP
	if sourceIn(ip, prefixes) {
		return p, nil
	}
	if err := s.audit.Record(ctx, audit.Event{Action: "access.denied.source", Target: target,
		CustomerID: string(cust), Result: audit.Denied, Detail: map[string]any{"source_ip": ip, "via": via}}); err != nil {
		return p, err
	}
	return p, errSourceRefused
}
