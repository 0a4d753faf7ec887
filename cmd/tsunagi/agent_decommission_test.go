package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgentDecommissionUnreported: without --yes nothing is touched; with
// it and no controller to tell, the node is still wiped — the state and
// run directories are gone — and the command says so with exit code 3.
// (The wipe of real hubs and the controller's record are
// internal/e2e's TestDecommissionWipesNode.)
func TestAgentDecommissionUnreported(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("decommission runs as root")
	}
	dir := t.TempDir()
	state, run := filepath.Join(dir, "state"), filepath.Join(dir, "run")
	for _, f := range []string{filepath.Join(state, "desired-state.json"), filepath.Join(state, "running-versions.json"),
		filepath.Join(run, "agent-holds.json")} {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"agent", "decommission", "--controller", "https://127.0.0.1:1", "--state-dir", state, "--run-dir", run}

	p := launch(t, args...)
	if code, _ := p.wait(exitTimeout); code != 1 || !strings.Contains(p.stderr.String(), "give --yes") {
		t.Fatalf("without --yes: exit %d, %q", code, p.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(state, "desired-state.json")); err != nil {
		t.Fatal("the refused command touched the state directory")
	}

	p = launch(t, append(args, "--yes")...)
	code, _ := p.wait(exitTimeout)
	if code != exitNotReported || !strings.Contains(p.stderr.String(), "the controller was not told") ||
		!strings.Contains(p.stderr.String(), "retire the node") {
		t.Fatalf("unreported wipe: exit %d, stderr %q", code, p.stderr.String())
	}
	for _, d := range []string{state, run} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s remains after the wipe: %v", d, err)
		}
	}
	if !strings.Contains(p.stdout.String(), "Files removed: 3") {
		t.Errorf("the command's account: %q", p.stdout.String())
	}
}
