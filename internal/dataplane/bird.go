package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// birdPaths are the files of one hub's BIRD, all in the hub's run directory.
type birdPaths struct {
	Config, Socket, PID, Log string
}

func pathsFor(runDir, ns string) birdPaths {
	dir := filepath.Join(runDir, ns)
	return birdPaths{
		Config: filepath.Join(dir, "bird.conf"),
		Socket: filepath.Join(dir, "bird.ctl"),
		PID:    filepath.Join(dir, "bird.pid"),
		Log:    filepath.Join(dir, "bird.log"),
	}
}

// birdOps is the narrow view of the BIRD daemon the subsystem needs.
type birdOps interface {
	// Check parses a configuration file without running it (bird -p).
	Check(ctx context.Context, config string) error
	// Running reports whether the hub's BIRD is alive in its namespace.
	Running(ns string, p birdPaths) bool
	Start(ctx context.Context, ns string, p birdPaths) error
	// Configure makes a running BIRD re-read its configuration file.
	Configure(ctx context.Context, p birdPaths) error
	// Routes lists the routes of BIRD's table within the given prefixes.
	Routes(ctx context.Context, p birdPaths, within []netip.Prefix) ([]Route, error)
	Stop(p birdPaths) error
}

// birdSet realises a hub's routing: one BIRD per hub namespace.
type birdSet struct {
	ops    birdOps
	runDir string
}

// Set renders the configuration and, only if it differs from the file in
// place or BIRD is not running, checks it with bird -p, moves it into place
// atomically and starts BIRD or makes it reconfigure. A rejected
// configuration never reaches the live path: the running BIRD keeps the
// previous one.
func (s *birdSet) Set(ctx context.Context, h Hub) error {
	ns := h.Namespace()
	p := pathsFor(s.runDir, ns)
	running := s.ops.Running(ns, p)
	// Only the AggregateRFC1918 policy depends on the table; the query is
	// limited to RFC 1918 space, so a hub with thousands of routes elsewhere
	// does not pay for it on every resync.
	var learned []Route
	if running && slices.ContainsFunc(h.Ports, func(p Port) bool { return p.Policy.Kind == PolicyAggregateRFC1918 }) {
		var err error
		if learned, err = s.ops.Routes(ctx, p, RFC1918); err != nil {
			return fmt.Errorf("bird %s: observe routes: %w", ns, err)
		}
	}
	conf, err := renderBird(h, p, learned)
	if err != nil {
		return err
	}
	current, err := os.ReadFile(p.Config)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("bird %s: %w", ns, err)
	}
	had := err == nil
	same := had && bytes.Equal(current, conf)
	if same && running {
		return nil
	}
	if !same {
		if err := s.install(ctx, p, conf); err != nil {
			return fmt.Errorf("bird %s: %w", ns, err)
		}
	}
	if running {
		if err := s.ops.Configure(ctx, p); err != nil {
			// BIRD kept its previous configuration. Put the previous file
			// back so that the file in place is the one running and the
			// next pass tries again rather than taking the refused file
			// for applied.
			if had && !same {
				err = errors.Join(err, s.restore(p, current))
			}
			return fmt.Errorf("bird %s: configure: %w", ns, err)
		}
		return nil
	}
	if err := s.ops.Start(ctx, ns, p); err != nil {
		return fmt.Errorf("bird %s: start: %w", ns, err)
	}
	return nil
}

// install writes conf beside the live file, checks it and renames it over
// the live file: BIRD never reads a half-written or unchecked file.
func (s *birdSet) install(ctx context.Context, p birdPaths, conf []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(p.Config), "bird.conf.*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(conf); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := s.ops.Check(ctx, tmp.Name()); err != nil {
		return fmt.Errorf("configuration refused: %w", err)
	}
	return os.Rename(tmp.Name(), p.Config)
}

// restore puts back the previous live file, atomically.
func (s *birdSet) restore(p birdPaths, previous []byte) error {
	tmp := p.Config + ".restore"
	if err := os.WriteFile(tmp, previous, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p.Config)
}

// Remove stops the hub's BIRD and removes its files.
func (s *birdSet) Remove(hubID string) error {
	p := pathsFor(s.runDir, Hub{ID: hubID}.Namespace())
	err := s.ops.Stop(p)
	for _, f := range []string{p.Config, p.Socket, p.PID} {
		if rerr := os.Remove(f); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// birdDaemon is birdOps on the real BIRD 2 binaries.
type birdDaemon struct {
	Bird string // path of bird; /usr/sbin/bird (Debian's bird2) when empty
	IP   string // path of ip (iproute2) for "ip netns exec"; from PATH when empty
}

func (d birdDaemon) bird() string { return orDefault(d.Bird, "/usr/sbin/bird") }
func (d birdDaemon) ip() string   { return orDefault(d.IP, "ip") }

func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

func (d birdDaemon) Check(ctx context.Context, config string) error {
	out, err := exec.CommandContext(ctx, d.bird(), "-p", "-c", config).CombinedOutput()
	if err != nil {
		return fmt.Errorf("bird -p: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pid returns the BIRD process of a pid file, if it is alive and a bird.
func (d birdDaemon) pid(p birdPaths) (int, bool) {
	b, err := os.ReadFile(p.PID)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, false
	}
	// /proc/<pid>/stat is "pid (comm) state ...": a zombie is not alive.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil || !strings.HasPrefix(string(stat), fmt.Sprintf("%d (bird) ", pid)) ||
		strings.HasPrefix(string(stat), fmt.Sprintf("%d (bird) Z", pid)) {
		return 0, false
	}
	return pid, true
}

// Running is true only for a bird whose network namespace is the hub's:
// a stale pid file reused by another process does not count.
func (d birdDaemon) Running(ns string, p birdPaths) bool {
	pid, ok := d.pid(p)
	if !ok {
		return false
	}
	var procNS, hubNS syscall.Stat_t
	if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &procNS) != nil ||
		syscall.Stat(filepath.Join("/run/netns", ns), &hubNS) != nil {
		return false
	}
	return procNS.Ino == hubNS.Ino && procNS.Dev == hubNS.Dev
}

// Start runs BIRD inside the namespace. BIRD forks into the background, so
// it outlives the agent (a restarted agent adopts it); the command returns
// once the configuration is read, and Start then waits for the control
// socket to answer.
func (d birdDaemon) Start(ctx context.Context, ns string, p birdPaths) error {
	_ = os.Remove(p.Socket)
	cmd := exec.CommandContext(ctx, d.ip(), "netns", "exec", ns, d.bird(), "-c", p.Config, "-s", p.Socket, "-P", p.PID)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := BirdClient{Socket: p.Socket}.Command(cctx, "show status")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("control socket did not answer: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (d birdDaemon) Configure(ctx context.Context, p birdPaths) error {
	return BirdClient{Socket: p.Socket}.Configure(ctx)
}

func (d birdDaemon) Routes(ctx context.Context, p birdPaths, within []netip.Prefix) ([]Route, error) {
	return BirdClient{Socket: p.Socket}.RoutesWithin(ctx, within)
}

// Stop ends the hub's BIRD: SIGTERM, then SIGKILL after five seconds.
func (d birdDaemon) Stop(p birdPaths) error {
	pid, ok := d.pid(p)
	if !ok {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop bird %d: %w", pid, err)
	}
	for range 100 {
		if _, ok := d.pid(p); !ok {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	return nil
}
