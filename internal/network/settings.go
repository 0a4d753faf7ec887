package network

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Environment variables that set the deployment's Settings; unset ones keep
// the defaults.
const (
	EnvRouteLimit        = "TSUNAGI_ROUTE_LIMIT"        // prefixes accepted per BGP peer (default 2000)
	EnvHubASN            = "TSUNAGI_HUB_ASN"            // the hub ASN customers start with (default 64600)
	EnvRegionPools       = "TSUNAGI_REGION_POOLS"       // "tokyo=100.64.0.0/16,osaka=100.65.0.0/16"
	EnvDefaultPool       = "TSUNAGI_DEFAULT_POOL"       // pool for regions without one (default 100.64.0.0/16)
	EnvCapacityThreshold = "TSUNAGI_CAPACITY_THRESHOLD" // augmentation flag, 0 < t ≤ 1 (default 0.70)
	EnvBackboneOverlay   = "TSUNAGI_BACKBONE_OVERLAY"   // customers' backbone segment, /29 or larger (default 169.254.255.248/29)
)

// SettingsFromEnv returns DefaultSettings with the deployment's overrides
// from the environment (lookup is os.LookupEnv in production).
func SettingsFromEnv(lookup func(string) (string, bool)) (Settings, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	s := DefaultSettings
	s.RegionPools = map[string]netip.Prefix{}
	if v, ok := lookup(EnvRouteLimit); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			return s, fmt.Errorf("%s must be a number from 1 to 1000000", EnvRouteLimit)
		}
		s.RouteLimit = n
	}
	if v, ok := lookup(EnvHubASN); ok {
		asn, err := ParseASN(v)
		if err != nil || ASNProblem(asn) != "" {
			return s, fmt.Errorf("%s: %q is not a usable AS number", EnvHubASN, v)
		}
		s.DefaultASN = asn
	}
	pool := func(name, v string) (netip.Prefix, error) {
		p, err := ParsePrefix(v)
		if err != nil || p.Bits() > 22 {
			return p, fmt.Errorf("%s: %q must be an IPv4 prefix of /22 or larger", name, v)
		}
		return p, nil
	}
	if v, ok := lookup(EnvDefaultPool); ok {
		p, err := pool(EnvDefaultPool, v)
		if err != nil {
			return s, err
		}
		s.DefaultPool = p
	}
	if v, ok := lookup(EnvRegionPools); ok && strings.TrimSpace(v) != "" {
		for _, f := range strings.Split(v, ",") {
			region, prefix, found := strings.Cut(strings.TrimSpace(f), "=")
			if !found || region == "" {
				return s, fmt.Errorf("%s: %q is not region=prefix", EnvRegionPools, f)
			}
			p, err := pool(EnvRegionPools, prefix)
			if err != nil {
				return s, err
			}
			s.RegionPools[region] = p
		}
	}
	if v, ok := lookup(EnvBackboneOverlay); ok {
		p, err := ParsePrefix(v)
		if err != nil || p.Bits() > 29 {
			return s, fmt.Errorf("%s: %q must be an IPv4 prefix of /29 or larger", EnvBackboneOverlay, v)
		}
		s.BackboneOverlay = p
	}
	if v, ok := lookup(EnvCapacityThreshold); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 1 {
			return s, fmt.Errorf("%s must be a fraction above 0 and at most 1 (e.g. 0.7)", EnvCapacityThreshold)
		}
		s.CapacityThreshold = f
	}
	return s, nil
}
