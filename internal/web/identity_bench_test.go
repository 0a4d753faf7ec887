package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// BenchmarkLogin measures password logins over HTTPS with the default
// argon2id parameters (m=64 MiB, t=1, p=2) on the embedded SQLite, with
// loginClients concurrent clients. It reports logins/s, p50 and p99.
//
//	go test -run '^$' -bench Login -benchtime 200x ./internal/web/
func BenchmarkLogin(b *testing.B) {
	for _, clients := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			e := startIDEnv(b, storetest.SQLite(b), identity.Config{Argon2: identity.DefaultArgon2,
				LockAfter: 1 << 30, IPMaxFailures: 1 << 30})
			cust, err := e.cat.CreateCustomer(e.seed, identityCustomerInput("Bench Login K.K."))
			e.must("customer", err)
			e.account(cust.ID, "bench-login", identity.RoleAdmin, flowPW)
			cs := make([]*client, clients)
			for i := range cs {
				cs[i] = e.client(e.customer)
				cs[i].login("bench-login", flowPW) // warm the connection
			}
			var (
				next atomic.Int64
				wg   sync.WaitGroup
				lat  = make([][]time.Duration, clients)
				errs = make([]error, clients)
			)
			body := map[string]string{"login_id": "bench-login", "password": flowPW}
			b.ResetTimer()
			start := time.Now()
			for i := range clients {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						t0 := time.Now()
						r := cs[i].do("POST", "/api/v1/session", body)
						if r.code != http.StatusOK {
							errs[i] = fmt.Errorf("login: %d %s", r.code, r.body)
							return
						}
						lat[i] = append(lat[i], time.Since(t0))
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if err := errors.Join(errs...); err != nil {
				b.Fatal(err)
			}
			all := slices.Concat(lat...)
			slices.Sort(all)
			pct := func(p float64) float64 {
				i := min(len(all)-1, max(0, int(float64(len(all))*p+0.999999)-1))
				return float64(all[i]) / float64(time.Millisecond)
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "logins/s")
		})
	}
}
