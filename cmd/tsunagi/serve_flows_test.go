package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFlowRecordsPerHourBounds: --flow-records-per-hour outside
// 1000–10000000 stops serve before it opens anything.
func TestFlowRecordsPerHourBounds(t *testing.T) {
	for _, n := range []int64{999, 10000001} {
		f := serveFlags{logLevel: "info", mgmtAllow: "127.0.0.0/8", agentAllow: "10.0.0.0/8", purgeAfter: "30", nodeSilentAfter: 5 * time.Minute,
			noticeMinDays: 14, retain: validRetain(),
			flowsPerHour: n, dataDir: filepath.Join(t.TempDir(), "never-made")}
		if err := serve(context.Background(), f); err == nil || !strings.HasPrefix(err.Error(), "--flow-records-per-hour: ") {
			t.Errorf("--flow-records-per-hour %d: %v", n, err)
		}
		if _, err := os.Stat(f.dataDir); err == nil {
			t.Errorf("--flow-records-per-hour %d: serve made its data directory", n)
		}
	}
}
