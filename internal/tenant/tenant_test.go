package tenant_test

import (
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// The zero values are refused, never read as "every customer".
func TestZeroRefused(t *testing.T) {
	var s tenant.Scope
	if _, err := s.Customer(); !fault.Is(err, fault.Internal) {
		t.Errorf("zero scope Customer: %v, want an internal error", err)
	}
	if _, err := s.Authorize(tenant.ActCatalogRead); !fault.Is(err, fault.Internal) {
		t.Errorf("zero scope Authorize: %v, want an internal error", err)
	}
	if s.Can(tenant.ActCatalogRead) {
		t.Error("the zero scope may do something")
	}
	var o tenant.Operator
	if _, err := o.Authorize(tenant.ActCatalogManage); !fault.Is(err, fault.Internal) {
		t.Errorf("zero operator handle: %v, want an internal error", err)
	}
	var h tenant.Holder = tenant.Scope{}
	if _, err := h.Authorize(tenant.ActCatalogRead); !fault.Is(err, fault.Internal) {
		t.Errorf("zero holder: %v, want an internal error", err)
	}
	// A constructor given no customer yields the zero scope, not a scope
	// of "".
	if !tenant.ForAccount("", "acc", "user", "session", func(tenant.Action) bool { return true }).IsZero() {
		t.Error("ForAccount without a customer is not zero")
	}
}

func TestAuthorize(t *testing.T) {
	s := tenanttest.As("cus_a", "user", tenant.ActCatalogRead)
	if c, err := s.Authorize(tenant.ActCatalogRead); err != nil || c != "cus_a" {
		t.Errorf("Authorize(catalog.read) = %q, %v", c, err)
	}
	if _, err := s.Authorize(tenant.ActAuditOwn); !fault.Is(err, fault.Forbidden) {
		t.Errorf("Authorize(audit.own) by a user: %v, want forbidden", err)
	}
	if c, err := s.Authorize(tenant.ActCatalogManage, tenant.ActCatalogRead); err != nil || c != "cus_a" {
		t.Errorf("Authorize(any of) = %q, %v", c, err)
	}
	bg := tenanttest.BreakGlass("cus_b")
	if g, r, ok := bg.BreakGlass(); !ok || g == "" || r == "" {
		t.Errorf("break-glass scope: %q %q %v", g, r, ok)
	}
	if _, err := bg.Authorize(tenant.ActCatalogRead); !fault.Is(err, fault.Forbidden) {
		t.Errorf("break-glass scope reads the catalog: %v", err)
	}
}
