// Package desired is the desired-state document the controller serves to a
// hub node's agent: everything the agent needs to realise every customer hub
// on that node — namespaces, port interfaces, BGP sessions and route
// policies, firewall rules with objects already expanded, NAPT and static
// NAT, shaping speeds, backbone membership — and nothing about other nodes'
// hubs. The JSON schema is desiredstate.schema.json next to this file
// (embedded as SchemaJSON).
//
// # Determinism and versioning
//
// The same input always gives byte-identical output: every list is sorted
// (hubs by hub_id, ports by port_code, legs by role, backbone peers by
// hub_id, static NAT by public address; firewall rules keep their order,
// which is their meaning), no maps are encoded and no timestamps are
// included. Generation is the lowercase hex SHA-256 of the document encoded
// with an empty generation; the controller sends it as the ETag, and an agent
// that already runs a generation has nothing to do. Each hub also carries the
// customer's applied configuration version (config_version), which the
// agent reports back so the panel can show whether the data plane has
// reached it. Schema names the document's version; a change that an older
// agent could misread gets a new schema name.
//
// # What each part means for the agent
//
//   - hubs[].namespace: the network namespace the agent owns for the hub
//     ("hub-" + the hub ID's random part). A namespace of that prefix not in
//     the document is a removed hub and is torn down.
//   - internal_network, monitoring_network: the hub's own prefixes, always
//     advertised on every BGP session and never accepted from a peer.
//   - backbone: the customer's VXLAN network identifier (unique per
//     customer), the hub's local preference and its address on the VXLAN
//     segment (fixed by DR priority: main, sub, backup are the first, second
//     and third host of the deployment's overlay subnet, which customers
//     cannot use), and this node's tunnel endpoint. peers lists the
//     customer's other hubs with their segment addresses and the tunnel
//     endpoints of the nodes they run on — the only facts about other nodes
//     the document carries — so that routes learned over the backbone are
//     preferred by DR priority (main 300 > sub 200 > backup 100). An empty
//     endpoint means the peer is not placed or its node's endpoint is not
//     set yet.
//   - ports[].legs: the node's physical interface per leg and the VLAN the
//     provider assigned (0 = untagged, on-premises ports). speed_mbps is the
//     contracted speed today: the shaping rate, changed in place.
//   - ports[].bgp_sessions: one ("single") for an on-premises port, two
//     ("primary", "secondary") for a cloud port. import_limit is the route
//     limit: more prefixes than that stop the session (BIRD: import limit N
//     action disable) and the agent reports the trip; bgp_enabled is false
//     while the controller holds it stopped, and a change of reenable_seq
//     means the customer re-enabled it: restart the session.
//   - ports[].shut: set (bpdu, flap, unknown) while a layer-2 guard holds the
//     on-premises port shut: keep its links down until it is cleared.
//   - ports[].route_policy: what the hub advertises on the port besides the
//     hub networks. "All" (on-premises): every route. "DefaultRoute":
//     0.0.0.0/0. "AggregateRFC1918": each listed aggregate only while a
//     matching or longer route is present, the aggregate itself a route of
//     lowest preference that is never used for forwarding. "UserDefined":
//     exactly the listed prefixes.
//   - ports[].firewall: ordered rules, first match wins, then
//     default_action (always drop). Sources and destinations are prefixes,
//     services protocol (tcp, udp, icmp, or "any": every protocol) and
//     ports ("" = any port); an empty services list matches any service. stateful: return traffic of accepted connections
//     passes by connection tracking; stateless: each direction needs its
//     rule.
//   - ports[].napt: per grade, the public prefix to SNAT to; only sessions
//     initiated from the hub toward the cloud.
//   - hubs[].monitors: the customer's running reachability monitors (a
//     stopped monitor is absent): probe target (ICMP echo, or a TCP
//     connection to tcp_port) from the hub's own address on its monitoring
//     network every interval_seconds, through port_code, and report each
//     probe (observed.Hub.Monitors); fail_after consecutive failures make
//     the monitor down, which the agent reports at once.
//   - hubs[].static_nat: 1:1 public ↔ inside mappings (DNAT+SNAT). The
//     table is the customer's and is the same on its main, sub and backup
//     hubs, so the public addresses survive a DR switch.
//
// This package imports only the standard library (deps_test.go), so that
// the agent can decode and check what it receives (Decode, State.Check)
// without the controller's store or web packages.
package desired
