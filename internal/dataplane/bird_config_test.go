package dataplane

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// updateGolden rewrites the golden files instead of comparing with them:
// TSUNAGI_UPDATE_GOLDEN=1 go test ./internal/dataplane/ -run Golden
var updateGolden = os.Getenv("TSUNAGI_UPDATE_GOLDEN") == "1"

type birdCase struct {
	Hub     Hub     `json:"hub"`
	Learned []Route `json:"learned"`
}

// TestBirdGolden renders each case under testdata/bird/<case>/input.json and
// compares it with bird.conf beside it. Where BIRD is installed, each golden
// file must also pass bird -p: a golden file BIRD refuses is a bug too.
func TestBirdGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/bird/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var c birdCase
			readGoldenInput(t, dir, &c)
			if err := c.Hub.Validate(); err != nil {
				t.Fatalf("input does not validate: %v", err)
			}
			got, err := renderBird(c.Hub, pathsFor("/run/tsunagi", c.Hub.Namespace()), c.Learned)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join(dir, "bird.conf")
			compareGolden(t, golden, got)
			if _, err := exec.LookPath("/usr/sbin/bird"); err == nil {
				if err := (birdDaemon{}).Check(context.Background(), golden); err != nil {
					t.Errorf("BIRD refuses %s: %v", golden, err)
				}
			}
		})
	}
}

func TestActiveAggregates(t *testing.T) {
	learned := []Route{
		{Net: mustPrefix("10.10.0.0/16"), Protocol: "port_onprem"},
		{Net: mustPrefix("172.31.0.0/16"), Protocol: "port_aws"},
		{Net: mustPrefix("192.168.0.0/16"), Protocol: "bb_osaka"},
		{Net: mustPrefix("10.0.0.0/8"), Protocol: "policy_routes"}, // the aggregate itself
		{Net: mustPrefix("172.0.0.0/8"), Protocol: "port_onprem"},  // shorter than 172.16/12
	}
	got := activeAggregates("port_aws", learned)
	want := []string{"10.0.0.0/8", "192.168.0.0/16"}
	var gs []string
	for _, p := range got {
		gs = append(gs, p.String())
	}
	if !slices.Equal(gs, want) {
		t.Errorf("active aggregates for port_aws = %v, want %v (172.16/12 only has routes from port_aws itself)", gs, want)
	}
	if got := activeAggregates("port_aws", nil); len(got) != 0 {
		t.Errorf("with nothing learned, aggregates %v are advertised", got)
	}
}
