package network

import (
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestCustomerSpeedChange: a customer asks for a speed change of its port in
// the draft; bad input is refused with the field and changes nothing; the
// review shows the change as low risk and hitless; apply records it under
// admission control, effective today at once, and a later admission refusal
// undoes the whole apply.
func TestCustomerSpeedChange(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db) // 2026-11-26 JST
		a, b := e.addCustomer("a"), e.addCustomer("b")
		code := a.codes[pAPrivate]
		// eth3 (10 G, cloud-aws) carries a's a-private port and both of b's
		// AWS ports, 1 G each.
		for _, c := range []struct {
			cu   customer
			port string
		}{{a, pAPrivate}, {b, pAPrivate}, {b, pAPublic}} {
			if _, err := e.svc.Operations.Place(e.ctx, c.cu.op, c.cu.codes[c.port], PlaceInput{}); err != nil {
				t.Fatal(err)
			}
		}
		w := e.svc.Workflow
		if _, err := w.StartEditing(a.ctx, a.sc); err != nil {
			t.Fatal(err)
		}
		d, err := w.SetPortSpeed(a.ctx, a.sc, code, BandwidthInput{SpeedMbps: 2_000})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.SpeedChanges) != 1 || d.SpeedChanges[0] != (SpeedRequest{PortCode: code, SpeedMbps: 2_000, EffectiveDate: "2026-11-26"}) {
			t.Fatalf("draft speed changes = %+v", d.SpeedChanges)
		}
		// Bad input: refused with the field, the draft keeps its request.
		for _, tc := range []struct {
			code string
			in   BandwidthInput
			kind fault.Kind
			msg  string
		}{
			{code, BandwidthInput{SpeedMbps: 3_000}, fault.Invalid, "must be one of [1000 2000 5000 10000]"},
			{code, BandwidthInput{SpeedMbps: 1_000}, fault.Invalid, "already runs at 1000 Mb/s"},
			{code, BandwidthInput{SpeedMbps: 2_000, EffectiveDate: "2026-11-25"}, fault.Invalid, "today or later"},
			{code, BandwidthInput{SpeedMbps: 2_000, EffectiveDate: "26/11/2026"}, fault.Invalid, "YYYY-MM-DD"},
			{code, BandwidthInput{SpeedMbps: 10_000}, fault.Invalid, "capacity exceeded on tyo-1/eth3"},
			{b.codes[pAPrivate], BandwidthInput{SpeedMbps: 2_000}, fault.NotFound, "port not found"},
		} {
			_, err := w.SetPortSpeed(a.ctx, a.sc, tc.code, tc.in)
			wantFault(t, err, tc.kind, tc.msg)
		}
		if d, err := w.GetDraft(a.ctx, a.sc); err != nil || len(d.SpeedChanges) != 1 || d.SpeedChanges[0].SpeedMbps != 2_000 {
			t.Fatalf("draft after refusals = %+v, %v", d.SpeedChanges, err)
		}
		// A user (read-only) cannot ask.
		if _, err := w.SetPortSpeed(a.ctx, tenanttest.As(a.id, "user", identity.ActNetworkRead), code, BandwidthInput{SpeedMbps: 5_000}); !fault.Is(err, fault.Forbidden) {
			t.Fatalf("user's request = %v", err)
		}

		r, err := w.Review(a.ctx, a.sc)
		if err != nil {
			t.Fatal(err)
		}
		var change *Change
		for i := range r.Changes {
			if r.Changes[i].Path == "ports["+code+"].speed_mbps" {
				change = &r.Changes[i]
			}
		}
		if change == nil || change.Before != int64(1_000) || change.After != int64(2_000) {
			t.Fatalf("review changes = %+v", r.Changes)
		}
		if !r.Valid || r.Risk != "low" || r.Impact != "none" || !r.Hitless || len(r.AffectedPorts) != 1 || r.AffectedPorts[0] != code {
			t.Fatalf("review = valid %v risk %s impact %s hitless %v ports %v, problems %v", r.Valid, r.Risk, r.Impact, r.Hitless, r.AffectedPorts, r.Problems)
		}
		if _, err := w.Apply(a.ctx, a.sc); err != nil {
			t.Fatal(err)
		}
		speed := func() int64 {
			t.Helper()
			p, err := e.cat.GetPort(e.ctx, tenanttest.Customer(a.id), code)
			if err != nil {
				t.Fatal(err)
			}
			return p.SpeedMbps
		}
		if got := speed(); got != 2_000 {
			t.Fatalf("catalog speed after apply = %d", got)
		}
		hist, err := w.BandwidthHistory(a.ctx, a.sc, code)
		if err != nil || len(hist) != 1 || hist[0].State != "effective" || hist[0].RequestedBy != "a-ops" || hist[0].FromMbps != 1_000 {
			t.Fatalf("history = %+v, %v", hist, err)
		}

		// A later-dated request whose capacity an operator takes before the
		// apply: the review and the apply refuse it, and nothing changes.
		if _, err := w.StartEditing(a.ctx, a.sc); err != nil {
			t.Fatal(err)
		}
		if _, err := w.SetPortSpeed(a.ctx, a.sc, code, BandwidthInput{SpeedMbps: 5_000, EffectiveDate: "2026-12-01"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Operations.RequestBandwidthChange(e.ctx, b.op, b.codes[pAPrivate], BandwidthInput{SpeedMbps: 5_000, EffectiveDate: "2026-11-26"}); err != nil {
			t.Fatal(err)
		}
		r, err = w.Review(a.ctx, a.sc)
		if err != nil || r.Valid || len(r.Problems) != 1 || r.Problems[0].Field != "speed_changes["+code+"].speed_mbps" {
			t.Fatalf("review over capacity = %+v, %v", r.Problems, err)
		}
		before, _ := w.ListVersions(a.ctx, a.sc, 0, 10)
		_, err = w.Apply(a.ctx, a.sc)
		wantFault(t, err, fault.Invalid, "capacity exceeded")
		after, _ := w.ListVersions(a.ctx, a.sc, 0, 10)
		if len(after) != len(before) {
			t.Fatalf("a refused apply made a version: %d → %d", len(before), len(after))
		}
		if hist, _ := w.BandwidthHistory(a.ctx, a.sc, code); len(hist) != 1 {
			t.Fatalf("a refused apply recorded a change: %+v", hist)
		}
		// With room again, the dated change is recorded, scheduled, and the
		// catalog keeps today's speed until the date.
		if _, err := w.SetPortSpeed(a.ctx, a.sc, code, BandwidthInput{SpeedMbps: 2_000, EffectiveDate: "2026-12-01"}); err == nil {
			t.Fatal("a request for the speed already in effect was accepted")
		}
		if _, err := w.RemovePortSpeed(a.ctx, a.sc, code); err != nil {
			t.Fatal(err)
		}
		if _, err := w.RemovePortSpeed(a.ctx, a.sc, code); !fault.Is(err, fault.NotFound) {
			t.Fatalf("second removal = %v", err)
		}
		// A request that an operator's change makes moot before the apply:
		// the review names it and the apply refuses it, recording nothing.
		if _, err := w.SetPortSpeed(a.ctx, a.sc, code, BandwidthInput{SpeedMbps: 1_000, EffectiveDate: "2026-12-01"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Operations.RequestBandwidthChange(e.ctx, a.op, code, BandwidthInput{SpeedMbps: 1_000, EffectiveDate: "2026-11-30"}); err != nil {
			t.Fatal(err)
		}
		r, err = w.Review(a.ctx, a.sc)
		if err != nil || r.Valid || len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Message, "already runs at 1000") {
			t.Fatalf("review of a moot speed change = %+v, %v", r.Problems, err)
		}
		_, err = w.Apply(a.ctx, a.sc)
		wantFault(t, err, fault.Invalid, "already runs at 1000")
		if hist, _ := w.BandwidthHistory(a.ctx, a.sc, code); len(hist) != 2 {
			t.Fatalf("a refused apply recorded a change: %+v", hist)
		}
	})
}
