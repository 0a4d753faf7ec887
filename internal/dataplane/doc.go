// Package dataplane realises customer hubs on a Linux hub node: per hub a
// network namespace hub-<id> holding the hub's port interfaces, addresses
// and sysctls, and its backbone VXLAN devices; one BIRD 2 process per
// namespace, its configuration built as a typed view model, rendered by a
// template, checked with bird -p before it is moved into place and
// reloaded through the control socket; one nftables table per namespace
// (the hub's own input filter, port firewalls, NAPT, static NAT) and a
// netdev table with the on-premises ports' layer-2 guards (BPDU guard, MAC
// limit, storm control), replaced together in one transaction; in the node
// namespace, where the backbone's VXLAN sockets are, one table per hub with
// a backbone that drops VXLAN packets carrying the hub's VNI from any
// underlay address other than its peer nodes' (underlay.go); and tc htb
// shaping each port at its contracted speed in both directions — on the
// port's device for what leaves the hub, on an ifb device per port, fed by
// an ingress redirect, for what enters it (tc.go). BirdClient and
// Manager.Observe read back sessions, route counts, rule and link counters
// for the agent's observe step; Observe also shuts a port whose guards
// tripped (a BPDU, or carrier flaps), recorded in the hub's run directory
// until the port's re-enable sequence passes the one recorded. Between the
// agent's passes, a watcher per guarded hub (guardwatch.go) makes the same
// judgement as soon as a BPDU or a carrier change is seen, and signals
// Manager.Tripped. Probe sends one reachability probe (ICMP echo or TCP
// connect) from a socket made in a hub's namespace, bound to the hub's
// monitoring address: the hub's own traffic, which its ruleset neither
// filters nor translates.
//
// Its input is the typed Hub, not the controller's desired-state document:
// the agent translates that document into a Hub and calls Manager.Apply.
// Every subsystem is declarative and idempotent — Set compares the desired
// state with what it reads back from the kernel or the daemon and makes no
// altering call when they already match — so the agent may call Apply on
// every resync, and a restarted agent adopts what is running without
// touching it. Subsystems keep no state in memory between calls; the only
// memory is the flap guard's carrier samples and the guard watchers, which
// a new Manager rebuilds from the kernel at its first Apply, and a digest
// of each subsystem's input at its last successful set per hub: with it
// Manager.ApplyChanged, the agent's pass for a new document, skips the
// subsystems whose input did not change instead of reading them back; the
// agent's start and resync passes (ApplyAll) read back and repair every
// subsystem.
//
// Order (Manager.Apply): validate → check the port interfaces exist →
// underlay filter → shaping of ports leaving the hub removed → namespace → links (MTU; shut ports held down) → addresses → sysctls →
// nftables → shut records of re-enabled ports → tc → BIRD. Links
// come before addresses because an address needs its device in the
// namespace; the firewall and NAT come before BIRD so that no route draws
// traffic through a port whose policy is not in force yet. A hub that fails
// validation or names a missing interface is refused before anything is
// changed.
//
// Ownership: this package creates a namespace only after writing a marker
// file in the hub's run directory, and marks every link it takes or
// creates with the alias "tsunagi:hub-<id>". Remove stops the hub's BIRD,
// gives marked port interfaces back to the node namespace, deletes marked
// VXLAN devices, deletes the namespace only if the marker says this
// package created it, and deletes the hub's underlay table (tsunagi_vx_<id>)
// from the node namespace.
//
// Every kernel or daemon call goes through a narrow interface (netOps,
// nftOps, underlayOps, tcOps, birdOps) with fakes in the tests; the end-to-end tests run
// the real kernel and BIRD in namespaces of their own.
package dataplane
