package network

import (
	"net/netip"
	"testing"
)

func TestSettingsFromEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	s, err := SettingsFromEnv(env(map[string]string{EnvRouteLimit: "500", EnvHubASN: "AS65100",
		EnvRegionPools: "tokyo=100.64.0.0/16, osaka=100.65.0.0/20", EnvCapacityThreshold: "0.8"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.RouteLimit != 500 || s.DefaultASN != 65100 || s.CapacityThreshold != 0.8 ||
		s.RegionPools["osaka"] != netip.MustParsePrefix("100.65.0.0/20") || s.DefaultPool != DefaultSettings.DefaultPool {
		t.Fatalf("settings = %+v", s)
	}
	if len(DefaultSettings.RegionPools) != 0 {
		t.Fatal("SettingsFromEnv changed the defaults")
	}
	for k, v := range map[string]string{EnvRouteLimit: "0", EnvHubASN: "23456", EnvRegionPools: "tokyo", EnvDefaultPool: "10.0.0.0/24",
		EnvCapacityThreshold: "70", EnvBackboneOverlay: "10.0.0.0/30"} {
		if _, err := SettingsFromEnv(env(map[string]string{k: v})); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
}
