package lifecycle

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// The child process of TestPurgeSurvivesSIGKILL: the test binary run again
// with this variable set purges one customer and, after it has done a
// number of steps, blocks until it is killed.
const (
	envChild    = "TSUNAGI_LIFECYCLE_CHILD" // "dsn|data dir|secret key file|customer|steps|JST day"
	blockedLine = "blocked after "
)

func TestMain(m *testing.M) {
	if v := os.Getenv(envChild); v != "" {
		if err := child(v); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0) // Not reached: the parent kills the child.
	}
	os.Exit(m.Run())
}

func child(v string) error {
	f := strings.Split(v, "|")
	if len(f) != 6 {
		return fmt.Errorf("%s: %q", envChild, v)
	}
	steps, err := strconv.Atoi(f[4])
	if err != nil {
		return err
	}
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{DSN: f[0], DataDir: f[1], SecretKeyFile: f[2]})
	if err != nil {
		return err
	}
	p, err := New(db, audit.New(db), signing.New(db, audit.New(db)), 30)
	if err != nil {
		return err
	}
	day, err := time.ParseInLocation("2006-01-02", f[5], time.FixedZone("JST", 9*3600))
	if err != nil {
		return err
	}
	p.Now = func() time.Time { return day.Add(3 * time.Hour) }
	done := 0
	p.afterStep = func(class string) {
		if done++; done == steps {
			fmt.Println(blockedLine + class)
			select {} // Committed this step; wait here for SIGKILL.
		}
	}
	return p.Purge(ctx, catalog.CustomerID(f[3]))
}

// TestPurgeSurvivesSIGKILL kills a controller in the middle of a purge
// (after some steps committed) and shows that a restart resumes it: the
// finished certificate counts every row, as one uninterrupted run does.
func TestPurgeSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			o := store.Options{DataDir: t.TempDir()}
			if engine == "postgres" {
				o.DSN = storetest.PostgresDSN(t)
			}
			o.SecretKeyFile = filepath.Join(o.DataDir, "secret.key")
			ctx := context.Background()
			open := func() *store.DB {
				db, err := store.Open(ctx, o)
				if err != nil {
					t.Fatal(err)
				}
				return db
			}
			db := open()
			seedPlatform(t, db)
			a := seedCustomer(t, db, "a", 1, terminatedOn)
			db.Close() // The SQLite directory lock: one process at a time.

			day := addDays(t, terminatedOn, 30)
			// Two kills: after 4 steps, and after 5 more (9 in all), then
			// the restart ends it.
			total := 0
			for _, steps := range []int{4, 5} {
				total += steps
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), envChild+"="+strings.Join([]string{o.DSN, o.DataDir, o.SecretKeyFile, string(a.id),
					strconv.Itoa(steps), day}, "|"))
				out, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				var stderr strings.Builder
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				line, err := bufio.NewReader(out).ReadString('\n')
				if !strings.HasPrefix(line, blockedLine) {
					_ = cmd.Process.Kill()
					werr := cmd.Wait()
					t.Fatalf("child: %q, %v (%v); stderr %s", line, err, werr, stderr.String())
				}
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				if err := cmd.Wait(); err == nil {
					t.Fatal("the child was not killed")
				}
				db := open()
				var done int
				var finished *string
				if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM erasure_steps WHERE customer_id = ?`, a.id).Scan(&done); err != nil {
					t.Fatal(err)
				}
				if err := db.QueryRow(ctx, `SELECT finished_at FROM erasures WHERE customer_id = ?`, a.id).Scan(&finished); err != nil {
					t.Fatal(err)
				}
				db.Close()
				if done != total || finished != nil {
					t.Fatalf("killed after %q: %d steps recorded, finished %v; want %d, unfinished", line, done, finished, total)
				}
			}
			// The restart: the job finds the unfinished erasure due and ends it.
			db = open()
			defer db.Close()
			p, clk := newPurger(t, db, 30, day)
			if due, err := p.Due(ctx); err != nil || len(due) != 1 || due[0] != a.id {
				t.Fatalf("after the kill: due %v, %v", due, err)
			}
			runs, err := scheduler(t, db, p, "restarted", clk.now).RunDue(ctx)
			if err != nil || len(runs) != 1 || runs[0].Done != 1 {
				t.Fatalf("restart: %+v, %v", runs, err)
			}
			doc, err := p.Certificate(ctx, a.id)
			if err != nil {
				t.Fatal(err)
			}
			var c Certificate
			if err := json.Unmarshal(doc, &c); err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			for _, cc := range c.Classes {
				got[cc.Class] = cc.Count
			}
			if fmt.Sprint(got) != fmt.Sprint(wantCounts) {
				t.Fatalf("certificate counts %v, want %v", got, wantCounts)
			}
			assertErased(t, db, a)
		})
	}
}
