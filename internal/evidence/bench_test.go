package evidence

import (
	"bytes"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// monthEntries is a busy customer's month: about one audit entry every 26
// seconds, day and night.
const monthEntries = 100_000

// BenchmarkExportMonth exports a busy customer's month — monthEntries
// entries over 30 days, a head signed every 10 minutes as the job does —
// and verifies the archive offline, reporting entries per second of each
// and the archive's size.
//
//	go test -run '^$' -bench ExportMonth -benchtime 3x ./internal/evidence/
func BenchmarkExportMonth(b *testing.B) {
	for _, engine := range []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}} {
		b.Run(engine.name, func(b *testing.B) {
			e := newEnv(b, engine.open(b))
			cust := e.customer("Busy KK")
			to := clock.Now()
			from := to.Add(-30 * 24 * time.Hour)
			step := to.Sub(from) / monthEntries
			e.plantSigned(cust, monthEntries, from, step, int(10*time.Minute/step))
			var archive bytes.Buffer
			var exporting, verifying time.Duration
			var entries int64
			b.ResetTimer()
			for b.Loop() {
				archive.Reset()
				start := time.Now()
				if err := e.svc.ExportOwn(customerCtx("admin"), tenanttest.Customer(cust), Window{From: from, To: to}, &archive); err != nil {
					b.Fatal(err)
				}
				exporting += time.Since(start)
				start = time.Now()
				rep, err := VerifyArchive(bytes.NewReader(archive.Bytes()), e.published())
				if err != nil {
					b.Fatal(err)
				}
				verifying += time.Since(start)
				entries += rep.Entries
			}
			b.ReportMetric(float64(entries)/exporting.Seconds(), "exported-entries/s")
			b.ReportMetric(float64(entries)/verifying.Seconds(), "verified-entries/s")
			b.ReportMetric(float64(archive.Len())/(1<<20), "archive-MiB")
		})
	}
}
